"""Loads a libgan training checkpoint into PyTorch: the generator and the
discriminator as nn.Sequential with load_state_dict(strict=True), samples
the generator, and checks its images against those libgan's `generate`
makes from the same noise (--noise), within one grey level. Exits 77
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


def main():
    meta, tensors = read_safetensors(sys.argv[1])
    g, d, z_shape = models(meta["model"])
    for prefix, net in (("generator.", g), ("discriminator.", d)):
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        net.load_state_dict(state, strict=True)  # raises on any missing, extra or misshaped tensor
    g.eval()
    d.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        images = g(torch.randn(64, *z_shape))
        logits = d(images)
    assert images.shape[1] == 1 and torch.isfinite(images).all() and images.abs().max() <= 1
    assert logits.shape == (64, 1) and torch.isfinite(logits).all()
    print(f"pytorch_load: {meta['model']} generator and discriminator loaded strictly, "
          f"{sum(p.numel() for p in g.parameters())} + {sum(p.numel() for p in d.parameters())} parameters, "
          f"mean D(G(z)) {torch.sigmoid(logits).mean():.3f}")
    worst = compare_with_libgan(sys.argv[1], sys.argv[2], g, z_shape)
    print(f"pytorch_load: libgan's generate on the same noise: within {worst} grey level(s) of PyTorch's G")
    if worst > 1:
        sys.exit(1)
    if len(sys.argv) > 3:
        size = images.shape[2]
        grid = to_bytes(images).reshape(8, 8, size, size)
        write_png(sys.argv[3], grid.permute(0, 2, 1, 3).reshape(8 * size, 8 * size).numpy())


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
        want = to_bytes(g(z)).reshape(dims)
    return int((got.int() - want.int()).abs().max())


def write_png(path, pixels):
    """Grayscale PNG with the standard library only."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    h, w = pixels.shape
    rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))

if __name__ == "__main__":
    main()
