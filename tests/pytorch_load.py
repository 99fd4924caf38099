"""Loads a libgan training checkpoint into PyTorch: the generator and the
discriminator as nn.Sequential with load_state_dict(strict=True), samples
the generator, and checks its images against those libgan's `generate`
makes from the same noise (--noise), within one level of 255, in grey or
colour. A dcgan64 checkpoint also loads, strictly, into the Generator and
Discriminator classes of the PyTorch DCGAN example (pytorch/examples,
dcgan/main.py), which then compute what the nn.Sequential do. Exits 77
(ctest's skip) without torch.

usage: python3 pytorch_load.py CHECKPOINT GENERATE [OUT.png]"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

try:
    import numpy as np
    import torch
    from torch import nn
except ImportError:
    print("pytorch_load: torch is not installed (Debian: python3-torch); skipped")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apps"))
from pytorch_models import models  # noqa: E402

DTYPES = {"F32": np.float32, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    payload = data[8 + n:]
    tensors = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        array = np.frombuffer(payload[begin:end], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return meta, tensors


class ExampleGenerator(nn.Module):
    """The PyTorch DCGAN example's Generator (nz 100, ngf 64, nc channels)."""

    def __init__(self, nc, nz=100, ngf=64):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, x):
        return self.main(x)


class ExampleDiscriminator(nn.Module):
    """The PyTorch DCGAN example's Discriminator (ndf 64), ending in Sigmoid."""

    def __init__(self, nc, ndf=64):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def main():
    meta, tensors = read_safetensors(sys.argv[1])
    channels = int(meta["channels"])
    g, d, z_shape = models(meta["model"], channels)
    states = {}
    for prefix, net in (("generator.", g), ("discriminator.", d)):
        states[prefix] = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        net.load_state_dict(states[prefix], strict=True)  # raises on any missing, extra or misshaped tensor
    g.eval()
    d.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        z = torch.randn(64, *z_shape)
        images = g(z)
        logits = d(images)
    assert images.shape[1] == channels and torch.isfinite(images).all() and images.abs().max() <= 1
    assert logits.shape == (64, 1) and torch.isfinite(logits).all()
    print(f"pytorch_load: {meta['model']} ({channels} channel(s)) generator and discriminator loaded strictly, "
          f"{sum(p.numel() for p in g.parameters())} + {sum(p.numel() for p in d.parameters())} parameters, "
          f"mean D(G(z)) {torch.sigmoid(logits).mean():.3f}")
    if meta["model"] == "dcgan64":
        example_g, example_d = ExampleGenerator(channels), ExampleDiscriminator(channels)
        example_g.load_state_dict({"main." + k: v for k, v in states["generator."].items()}, strict=True)
        example_d.load_state_dict({"main." + k: v for k, v in states["discriminator."].items()}, strict=True)
        example_g.eval()
        example_d.eval()
        with torch.no_grad():
            same_images = torch.equal(example_g(z), images)
            same_d = torch.allclose(example_d(images), torch.sigmoid(logits).squeeze(1), atol=1e-6)
        print(f"pytorch_load: loaded strictly into the PyTorch DCGAN example's Generator and Discriminator; "
              f"same images {same_images}, same D {same_d}")
        if not (same_images and same_d):
            sys.exit(1)
    worst = compare_with_libgan(sys.argv[1], sys.argv[2], g, z_shape)
    print(f"pytorch_load: libgan's generate on the same noise: within {worst} level(s) of 255 of PyTorch's G")
    if worst > 1:
        sys.exit(1)
    if len(sys.argv) > 3:
        size = images.shape[2]
        grid = to_bytes(images).reshape(8, 8, channels, size, size)
        write_png(sys.argv[3], grid.permute(0, 3, 1, 4, 2).reshape(8 * size, 8 * size, channels).numpy())


def to_bytes(images):
    """[-1, 1] to 0..255 as libgan's IDX and PNG writers round them."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().byte()


def compare_with_libgan(checkpoint, generate, g, z_shape):
    """The largest difference in grey levels between PyTorch's G(z) and the
    images libgan's generate makes from the same noise."""
    count = 16
    z = torch.randn(count, *z_shape)
    with tempfile.TemporaryDirectory() as tmp:
        noise, out = os.path.join(tmp, "noise.f32"), os.path.join(tmp, "images.idx")
        z.numpy().astype("<f4").tofile(noise)
        subprocess.run([generate, "--checkpoint", checkpoint, "--noise", noise, "--count", str(count), "--out", out],
                       check=True, stdout=subprocess.DEVNULL)
        with open(out, "rb") as f:
            data = f.read()
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    got = torch.from_numpy(np.frombuffer(data[4 + 4 * ndim:], dtype=np.uint8).copy()).reshape(dims)
    with torch.no_grad():
        want = to_bytes(g(z))  # [N, C, H, W]; the IDX file holds [N, H, W] or [N, H, W, C]
    want = want.permute(0, 2, 3, 1).reshape(dims)
    return int((got.int() - want.int()).abs().max())


def write_png(path, pixels):
    """A grey or RGB PNG ([h, w, 1 or 3] bytes) with the standard library only."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    h, w, channels = pixels.shape
    rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))
    colour_type = 2 if channels == 3 else 0
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))

if __name__ == "__main__":
    main()
