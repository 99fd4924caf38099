#!/usr/bin/env bash
# train_images end to end on folders of coloured pictures made here (PNG and
# JPEG, in subfolders, with broken files): broken files skipped with a
# warning naming each, colour grids, GIF and samples, the same training
# from the cache in memory and from the background decoder, exact resume,
# grey folders, both backends, and clear errors.
# usage: test_images.sh BIN_DIR MAKE_IMAGES EVENTS_DUMP
set -uo pipefail
bin=$(cd "$1" && pwd)
make_images=$2
events_dump=$3
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
. "$here/check.sh"
png_colour_type() { od -An -tu1 -j25 -N1 "$1" | tr -d ' '; } # 0 grey, 2 RGB
idx_dims() { od -An -tu1 -j3 -N1 "$1" | tr -d ' '; }

"$make_images" broken 30 --broken
"$make_images" clean 24
"$make_images" grey 20 --grey
common=(--batch 8 --threads 2 --log-every 1)

# a folder with broken files: each skipped with one warning naming it
check "trains on a folder with broken files" "$bin/train_images" --data broken "${common[@]}" --max-steps 4 --out A \
    > A.log 2> A.err
for f in broken/empty.png broken/more/notes.jpg broken/cut.png; do
    check "warns about $f" test "$(grep -c "warning: skipping $f" A.err)" -eq 1
done
check "counts them" grep -q "3 file(s) under broken skipped, 30 image(s) used" A.err
check "says the cache and its size" grep -q "30 images, 3 channel(s), centre-cropped and resized to 64x64; decoded into memory: 0.4 MiB" A.log
check "notes the upscaled" grep -q "note: 23 image(s) are smaller than 64x64 and are upscaled" A.log
check "dcgan64 in colour" grep -q "Conv2d(3, 64, kernel_size=(4, 4)" A.log
check "colour sample grid" test "$(png_colour_type A/samples/epoch_001.png)" -eq 2
check "colour TensorBoard image" grep -q "^image 3 samples 530 530 3 " <("$events_dump" A/events.out.tfevents.*)
if "$python" -c "import PIL" 2> /dev/null; then
    check "colour GIF" "$python" "$here/gif_check.py" A/progress.gif 0.5 A/samples/epoch_001.png > /dev/null
fi

# the cache and the background decoder give the same training, to the byte,
# with flips and rotations; a resume takes the folder from the checkpoint
# (the 28x28 dcgan, in colour, which costs less than dcgan64)
opts=(--data clean "${common[@]}" --model dcgan --flip --rotate 10)
check "cached" "$bin/train_images" "${opts[@]}" --max-steps 5 --out C > C.log
check "decoded a batch at a time" "$bin/train_images" "${opts[@]}" --max-steps 5 --cache-limit 0 --out S > S.log
check "says it decodes in the background" grep -q "decoded a batch at a time by a background thread" S.log
check "the same checkpoint" cmp C/checkpoint.safetensors S/checkpoint.safetensors
check "first part" "$bin/train_images" "${opts[@]}" --max-steps 2 --out R > /dev/null
check "resumed" "$bin/train_images" --resume R --max-steps 5 --threads 2 > R.log
check "resumed run is identical" cmp C/checkpoint.safetensors R/checkpoint.safetensors
check "resume kept the flips" grep -q "random rotation, random horizontal flip" R.log

# samples in colour from the checkpoint
check "generate a colour grid" "$bin/generate" --checkpoint C --count 16 --out g.png > /dev/null
check "a colour PNG" test "$(png_colour_type g.png)" -eq 2
check "generate colour IDX" "$bin/generate" --checkpoint C --count 5 --out g.idx > /dev/null
check "IDX of [5, 28, 28, 3]" test "$(idx_dims g.idx)" -eq 4 -a "$(stat -c %s g.idx)" -eq $((4 + 4 * 4 + 5 * 28 * 28 * 3))

# grey pictures make a grey model; colour can be asked of them
check "grey folder" "$bin/train_images" --data grey "${common[@]}" --max-steps 2 --model dcgan --out G > G.log
check "one channel" grep -q "1 channel(s), centre-cropped and resized to 28x28" G.log
check "grey grid" test "$(png_colour_type G/samples/epoch_001.png)" -eq 0
check "grey as colour" "$bin/train_images" --data grey "${common[@]}" --max-steps 1 --channels 3 --out G3 > G3.log
check "three channels" grep -q "20 images, 3 channel(s)" G3.log

if "$bin/train_mnist" --list-devices > /dev/null 2>&1; then
    check "OpenCL run in colour" "$bin/train_images" --data broken "${common[@]}" --max-steps 3 --backend opencl \
        --cache-limit 0 --out O > /dev/null 2>&1
    check "OpenCL losses finite" awk -F, 'NR > 1 && ($3 != $3 + 0 || $4 != $4 + 0 || $3 ~ /nan|inf/) {exit 1}' O/metrics.csv
    check "OpenCL colour grid" test "$(png_colour_type O/samples/epoch_001.png)" -eq 2
else
    echo "test_images: no OpenCL device; the OpenCL run is left out"
fi

# errors
mkdir nothing && echo text > nothing/readme.txt
fails_with "no usable image" "nothing holds no usable image" "$bin/train_images" --data nothing --out X
fails_with "no folder" "missing: cannot read the folder" "$bin/train_images" --data missing --out X
fails_with "no --data" "--data names the folder" "$bin/train_images" --out X
fails_with "two channels" "--channels takes 0, 1 or 3" "$bin/train_images" --data clean --channels 2
fails_with "other channels on resume" "--channels 1 differs from the checkpoint's 3" \
    "$bin/train_images" --resume R --channels 1
fails_with "flip added on resume" "--flip differs" "$bin/train_images" --resume G --flip
fails_with "MNIST checkpoint" "trained on images, this program trains on mnist" "$bin/train_mnist" --resume R
check "no folder was made for errors" test ! -e X
finish test_images
