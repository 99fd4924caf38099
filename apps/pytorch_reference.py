"""PyTorch's reference of a libgan training run: the same model
(apps/pytorch_models.py), the tutorials' recipe as train_mnist's defaults
(BCE on logits, Adam lr 2e-4 betas (0.5, 0.999), batch 128, N(0, 0.02)
weights and N(1, 0.02) batch norm gammas, a reshuffle each epoch, the last
partial batch dropped, one D step on real and fake then one G step), then
--count samples of G in eval mode as an IDX file of bytes, for
build/apps/evaluate to score as it scores libgan's runs.

usage: python3 apps/pytorch_reference.py --data data/mnist --seed 1 --out torch-mnist-1.idx
       [--model dcgan] [--epochs 5] [--count 10000] [--threads 2]"""
import argparse
import gzip
import os
import struct
import sys
import time

try:
    import numpy as np
    import torch
    from torch import nn
except ImportError:
    sys.exit("pytorch_reference: PyTorch is not installed (Debian: apt-get install python3-torch)")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_models import models, weights_init  # noqa: E402


def read_idx(path):
    """The training images of a folder: raw or .gz, as uint8 [N, H, W]."""
    for name in ("train-images-idx3-ubyte", "train-images.idx3-ubyte"):
        for suffix, opener in (("", open), (".gz", gzip.open)):
            full = os.path.join(path, name + suffix)
            if os.path.exists(full):
                with opener(full, "rb") as f:
                    data = f.read()
                n, h, w = struct.unpack(">III", data[4:16])
                return np.frombuffer(data[16:16 + n * h * w], dtype=np.uint8).reshape(n, h, w)
    sys.exit(f"pytorch_reference: {path} holds no train-images-idx3-ubyte (raw or .gz)")


def write_idx(path, images):
    """uint8 [N, H, W] as an IDX file."""
    n, h, w = images.shape
    with open(path, "wb") as f:
        f.write(b"\x00\x00\x08\x03" + struct.pack(">III", n, h, w) + images.tobytes())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="dcgan")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    images = read_idx(a.data)
    g, d, z_shape = models(a.model)
    g.apply(weights_init)
    d.apply(weights_init)
    size = 64 if a.model == "dcgan64" else 28
    real_all = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0).unsqueeze(1)
    if size != real_all.shape[2]:
        real_all = nn.functional.interpolate(real_all, size=(size, size), mode="bilinear", align_corners=False)
    og = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(a.batch, 1), torch.zeros(a.batch, 1)
    steps = len(real_all) // a.batch
    start = time.time()
    for epoch in range(a.epochs):
        order = torch.randperm(len(real_all))
        for step in range(steps):
            real = real_all[order[step * a.batch:(step + 1) * a.batch]]
            d.zero_grad()
            loss_real = bce(d(real), ones)
            fake = g(torch.randn(a.batch, *z_shape))
            loss_fake = bce(d(fake.detach()), zeros)
            (loss_real + loss_fake).backward()
            od.step()
            g.zero_grad()
            loss_g = bce(d(fake), ones)
            loss_g.backward()
            og.step()
        print(f"pytorch_reference: epoch {epoch + 1}/{a.epochs}: loss_D {float(loss_real + loss_fake):.4f} "
              f"loss_G {float(loss_g):.4f} ({time.time() - start:.0f} s)", flush=True)
    g.eval()
    out = []
    with torch.no_grad():
        for at in range(0, a.count, 500):
            z = torch.randn(min(500, a.count - at), *z_shape)
            out.append(((g(z).clamp(-1, 1) + 1) * 127.5).round().byte()[:, 0].numpy())
    write_idx(a.out, np.concatenate(out))
    print(f"pytorch_reference: {a.count} samples of G in eval mode in {a.out}")


if __name__ == "__main__":
    main()
