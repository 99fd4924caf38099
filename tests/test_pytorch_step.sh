#!/usr/bin/env bash
# libgan's whole GAN step against PyTorch's (tests/pytorch_step.py): the
# same initial weights through a checkpoint, the same batches and noise,
# one and three steps, for each zoo model, on the CPU backend and, where an
# OpenCL device exists, on OpenCL. Skips (77) without torch.
# usage: test_pytorch_step.sh TRAINER_REFERENCE
set -euo pipefail
reference=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-/usr/bin/python3}
"$python" -c "import torch" 2> /dev/null || { echo "test_pytorch_step: python3-torch is not installed; skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
backends=(cpu)
if "$reference" opencl gan 2 "$work" > /dev/null 2>&1; then
    backends+=(opencl)
else
    echo "test_pytorch_step: no OpenCL device: the CPU backend only"
fi
for backend in "${backends[@]}"; do
    for spec in gan:32 dcgan:32 dcgan64:8; do
        model=${spec%:*} batch=${spec#*:}
        dir="$work/$backend-$model"
        mkdir -p "$dir"
        echo "test_pytorch_step: $model on $backend, batch $batch"
        "$reference" "$backend" "$model" "$batch" "$dir"
        "$python" "$here/pytorch_step.py" "$dir" "$model" "$batch"
    done
done
