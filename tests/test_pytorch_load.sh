#!/usr/bin/env bash
# Trains each model a few steps on small random data, then loads the
# checkpoints into PyTorch (tests/pytorch_load.py). Skips (77) without torch.
set -euo pipefail
bin=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-/usr/bin/python3}
"$python" -c "import torch" 2> /dev/null || { echo "test_pytorch_load: python3-torch is not installed; skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }
mkdir data
{ printf '\x00\x00\x08\x03'; be32 32; be32 28; be32 28; head -c $((32 * 784)) /dev/urandom; } > data/train-images-idx3-ubyte
{ printf '\x00\x00\x08\x01'; be32 32; head -c 32 /dev/urandom; } > data/train-labels-idx1-ubyte
for model in gan dcgan dcgan64; do
    "$bin/train_mnist" --data data --no-verify --batch 16 --model "$model" --max-steps 2 --out "$model" > /dev/null
    "$python" "$here/pytorch_load.py" "$model/checkpoint.safetensors"
done
