#!/usr/bin/env bash
# Trains each model a few steps on small random data, and dcgan64 in colour
# on a folder of pictures, then loads the checkpoints into PyTorch
# (tests/pytorch_load.py), whose generator must draw what libgan's generate
# draws from the same noise. Skips (77) without torch.
# usage: test_pytorch_load.sh BIN_DIR MAKE_IMAGES
set -euo pipefail
bin=$(cd "$1" && pwd)
make_images=$2
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-/usr/bin/python3}
"$python" -c "import torch" 2> /dev/null || { echo "test_pytorch_load: python3-torch is not installed; skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
. "$here/idx_data.sh"
make_data data 32
for model in gan dcgan dcgan64; do
    "$bin/train_mnist" --data data --no-verify --batch 16 --model "$model" --max-steps 2 --out "$model" > /dev/null
    "$python" "$here/pytorch_load.py" "$model/checkpoint.safetensors" "$bin/generate"
done
"$make_images" pictures 24
"$bin/train_images" --data pictures --batch 8 --max-steps 2 --out colour > /dev/null
"$python" "$here/pytorch_load.py" colour/checkpoint.safetensors "$bin/generate"
