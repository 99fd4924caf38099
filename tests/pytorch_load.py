"""Loads a libgan training checkpoint into PyTorch: the generator and the
discriminator as nn.Sequential with load_state_dict(strict=True), then
samples the generator. Exits 77 (ctest's skip) without torch.

usage: python3 pytorch_load.py CHECKPOINT [OUT.png]"""
import json
import os
import struct
import sys
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
    if len(sys.argv) > 2:
        size = images.shape[2]
        grid = ((images.clamp(-1, 1) + 1) * 127.5).round().byte().reshape(8, 8, size, size)
        write_png(sys.argv[2], grid.permute(0, 2, 1, 3).reshape(8 * size, 8 * size).numpy())


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
