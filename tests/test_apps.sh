#!/usr/bin/env bash
# End-to-end tests of the training apps on small IDX files made here: outputs
# written, exact resume, and clear errors for bad data, damaged checkpoints
# and bad flags, with nothing already written lost.
# usage: test_apps.sh BIN_DIR
set -uo pipefail
bin=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
. "$here/idx_data.sh"
. "$here/check.sh"
is_png() { [[ $(head -c 8 "$1" | od -An -tx1 | tr -d ' ') == 89504e470d0a1a0a ]]; }

make_data data 96
common=(--data data --no-verify --batch 32 --threads 2 --log-every 1)

# a full run writes grids, metrics and a checkpoint
check "two epochs run" "$bin/train_mnist" "${common[@]}" --epochs 2 --out A > A.log
check "epoch 1 grid is a PNG" is_png A/samples/epoch_001.png
check "epoch 2 grid is a PNG" is_png A/samples/epoch_002.png
check "metrics has a header and 6 rows" test "$(wc -l < A/metrics.csv)" -eq 7
check "metrics header" grep -q '^epoch,step,loss_d,loss_g,d_x,d_g_z1,d_g_z2,seconds$' A/metrics.csv
check "losses are finite" awk -F, 'NR > 1 && ($3 != $3 + 0 || $4 != $4 + 0 || $3 ~ /nan|inf/) {exit 1}' A/metrics.csv
check "summary printed" grep -q 'total parameters: 747841' A.log
check "checkpoint written" test -s A/checkpoint.safetensors

# stopping and resuming gives the very same checkpoint as running through
check "first part" "$bin/train_mnist" "${common[@]}" --epochs 2 --max-steps 4 --out B > /dev/null
check "resume" "$bin/train_mnist" --resume B --threads 2 --data data --no-verify > B.log
check "resumed checkpoint is identical" cmp A/checkpoint.safetensors B/checkpoint.safetensors
check "resumed metrics are identical" cmp <(cut -d, -f1-7 A/metrics.csv) <(cut -d, -f1-7 B/metrics.csv)
check "resume says where it starts" grep -q 'resumed at    epoch 2, step 4' B.log

# separate learning rates, one-sided label smoothing, the mode-seeking term
# and a moving average of G, kept by a resume
aids=(--lr-d 4e-4 --label-smooth 0.1 --mode-seeking 0.5 --ema 0.9)
check "training aids" "$bin/train_mnist" "${common[@]}" "${aids[@]}" --max-steps 4 --out T > T.log
check "says them" grep -q "Adam lr G 0.0002, D 0.0004, betas (0.5, 0.999); BCE on logits, real label 0.9, mode seeking 0.5; samples from G's moving average" T.log
check "first part with aids" "$bin/train_mnist" "${common[@]}" "${aids[@]}" --max-steps 2 --out TR > /dev/null
check "resumed with aids" "$bin/train_mnist" --resume TR --threads 2 --data data --no-verify --max-steps 4 > /dev/null
check "the same training" cmp T/checkpoint.safetensors TR/checkpoint.safetensors
fails_with "another --lr on resume" "--lr 0.0002 differs from the checkpoint's learning rates (G 0.0002, D 0.0004)" \
    "$bin/train_mnist" --resume TR --data data --no-verify --lr 2e-4
fails_with "another smoothing on resume" "--label-smooth 0.2 differs from the checkpoint's 0.1" \
    "$bin/train_mnist" --resume TR --data data --no-verify --label-smooth 0.2
fails_with "another average on resume" "--ema 0.99 differs from the checkpoint's 0.9" \
    "$bin/train_mnist" --resume TR --data data --no-verify --ema 0.99
fails_with "another mode-seeking weight on resume" "--mode-seeking 1 differs from the checkpoint's 0.5" \
    "$bin/train_mnist" --resume TR --data data --no-verify --mode-seeking 1
check "generate from the average" "$bin/generate" --checkpoint T --count 4 --out t.idx > /dev/null

# --recipe names a set of those aids; a flag given overrides it, and a resume
# keeps the checkpoint's
check "best recipe" "$bin/train_mnist" "${common[@]}" --recipe best --max-steps 4 --out RB > RB.log
check "says its settings" grep -q "recipe        best" RB.log
check "says its aids" grep -q "Adam lr G 0.0006, D 0.0002, betas (0.5, 0.999); BCE on logits, real label 1; samples from G's moving average" RB.log
check "best recipe of gan" "$bin/train_mnist" "${common[@]}" --recipe best --model gan --max-steps 1 --out RG > RG.log
check "says its aids" grep -q "Adam lr G 0.0016, D 0.0008, betas (0.5, 0.999); BCE on logits, real label 0.8; samples from G's moving average" RG.log
check "best recipe on Fashion-MNIST" "$bin/train_fashion" "${common[@]}" --recipe best --max-steps 1 --out RF > RF.log
check "says its aids" grep -q "Adam lr G 0.0003, D 0.0002, betas (0.5, 0.999); BCE on logits, real label 1, mode seeking 0.35; samples from G's moving average" RF.log
check "a flag overrides the recipe" "$bin/train_mnist" "${common[@]}" --recipe best --ema 0 --lr 1e-4 --label-smooth 0.1 \
    --max-steps 1 --out RO > RO.log
check "says the override" grep -q "Adam lr G 0.0001, D 0.0001, betas (0.5, 0.999); BCE on logits, real label 0.9$" RO.log
check "first part with the recipe" "$bin/train_mnist" "${common[@]}" --recipe best --max-steps 2 --out RR > /dev/null
check "resumed with the recipe" "$bin/train_mnist" --resume RR --threads 2 --data data --no-verify --max-steps 4 > RR.log
check "resume says the recipe" grep -q "recipe        best" RR.log
check "the same training with the recipe" cmp RB/checkpoint.safetensors RR/checkpoint.safetensors
fails_with "another recipe on resume" "--recipe tutorial differs from the checkpoint's best" \
    "$bin/train_mnist" --resume RR --data data --no-verify --recipe tutorial
fails_with "unknown recipe" "--recipe takes tutorial, best, not 'fast'" \
    "$bin/train_mnist" "${common[@]}" --recipe fast --out RX
check "nothing written for an unknown recipe" test ! -e RX

# progress.gif: the grids in training order, from the start also after a resume
python=${PYTHON:-/usr/bin/python3}
if "$python" -c "import PIL" 2> /dev/null; then
    check "GIF of a run" "$python" "$here/gif_check.py" A/progress.gif 0.5 A/samples/epoch_001.png A/samples/epoch_002.png > /dev/null
    check "GIF of a resumed run" "$python" "$here/gif_check.py" B/progress.gif 0.5 B/samples/epoch_001.png B/samples/epoch_002.png > /dev/null
    check "GIF of step grids between epochs" "$bin/train_mnist" "${common[@]}" --epochs 2 --sample-every 2 --gif-delay 0.2 --out S > /dev/null
    check "their order" "$python" "$here/gif_check.py" S/progress.gif 0.2 S/samples/step_0000002.png \
        S/samples/epoch_001.png S/samples/step_0000004.png S/samples/step_0000006.png S/samples/epoch_002.png > /dev/null
    check "progress_gif on demand" "$bin/progress_gif" --run S --out again.gif --gif-delay 0.2 > /dev/null
    check "the same GIF" cmp S/progress.gif again.gif
else
    echo "test_apps: no python3-pil: the GIF checks were skipped"
fi
fails_with "progress_gif needs a run" "checkpoint.safetensors: cannot open" "$bin/progress_gif" --run nowhere

# the GAN vs DCGAN report: both runs, the pictures, and tables that are the
# means of each epoch's rows of metrics.csv
epoch_row() { # epoch_row METRICS EPOCH: the report's row for that epoch, recomputed
    awk -F, -v e="$2" 'NR > 1 && $1 == e {n++; d += $3; g += $4; x += $5; z += $6}
        END {b = x / n - z / n; b = int(b * 1000 + (b > 0 ? 0.5 : -0.5)) / 1000; printf "| %d | %.4f | %.4f | %.3f | %.3f | %.3f |", e, d / n, g / n, x / n, z / n, b + 0}' "$1"
}
report_has_rows() { # report_has_rows DIR EPOCHS
    for model in gan dcgan; do
        for e in $(seq 1 "$2"); do
            grep -qF "$(epoch_row "$1/$model/metrics.csv" "$e")" <(sed -n "/^### $model/,/^###\|^## /p" "$1/report.md") ||
                { echo "report lacks $model epoch $e: $(epoch_row "$1/$model/metrics.csv" "$e")"; return 1; }
        done
    done
}
check "compare runs both" "$bin/compare" --data data --no-verify --batch 32 --epochs 1 --threads 2 --out CMP > /dev/null
check "report tables match metrics.csv" report_has_rows CMP 1
check "report concludes" grep -q "^## Conclusion" CMP/report.md
check "side by side grids" is_png CMP/final_grids.png
check "loss chart" is_png CMP/losses.png
check "both GIFs" test -s CMP/gan/progress.gif -a -s CMP/dcgan/progress.gif
check "compare resumes both runs for more epochs" "$bin/compare" --data data --no-verify --batch 32 --epochs 2 --threads 2 --out CMP > /dev/null
check "report tables for 2 epochs" report_has_rows CMP 2
fails_with "compare with another batch than its runs" "--batch 16 differs from the checkpoint's 32" \
    "$bin/compare" --data data --no-verify --batch 16 --epochs 2 --out CMP
fails_with "compare with another recipe than its runs" "--recipe best differs from the checkpoint's tutorial" \
    "$bin/compare" --data data --no-verify --batch 32 --epochs 2 --recipe best --out CMP

# generate: IDX and PNG
check "generate IDX" "$bin/generate" --checkpoint A --count 5 --out five.idx --seed 7 > /dev/null
check "IDX size" test "$(stat -c %s five.idx)" -eq $((16 + 5 * 784))
check "generate PNG" "$bin/generate" --checkpoint A/checkpoint.safetensors --count 10 --out ten.png > /dev/null
check "PNG written" is_png ten.png
"$bin/generate" --checkpoint A --count 5 --out again.idx --seed 7 > /dev/null
check "same seed, same images" cmp five.idx again.idx
head -c 100 /dev/zero > short.f32
fails_with "noise of the wrong size" "short.f32: not --count vectors of the model's latent size in float32" \
    "$bin/generate" --checkpoint A --count 5 --noise short.f32 --out x.idx

# the other models and the Fashion-MNIST program
check "gan model" "$bin/train_mnist" "${common[@]}" --model gan --max-steps 2 --out G > /dev/null
check "dcgan64 model" "$bin/train_mnist" --data data --no-verify --batch 8 --model dcgan64 --max-steps 1 --sample-every 1 --out D64 > /dev/null
check "dcgan64 grid" is_png D64/samples/step_0000001.png
check "train_fashion" "$bin/train_fashion" "${common[@]}" --max-steps 2 --rotate 15 --out F > /dev/null

# OpenCL: a short run, and checkpoints that move between backends
if "$bin/train_mnist" --list-devices > /dev/null 2>&1; then
    check "OpenCL run" "$bin/train_mnist" "${common[@]}" --backend opencl --max-steps 3 --sample-every 3 --out O > /dev/null
    check "OpenCL grid" is_png O/samples/step_0000003.png
    check "OpenCL losses are finite" awk -F, 'NR > 1 && ($3 ~ /nan|inf/ || $4 ~ /nan|inf/) {exit 1}' O/metrics.csv
    # CPU checkpoint -> OpenCL, and OpenCL checkpoint -> CPU, both finish the two epochs
    check "CPU part" "$bin/train_mnist" "${common[@]}" --epochs 2 --max-steps 4 --out CO > /dev/null
    check "resumed on OpenCL" "$bin/train_mnist" --resume CO --backend opencl --data data --no-verify > /dev/null
    check "OpenCL part" "$bin/train_mnist" "${common[@]}" --epochs 2 --max-steps 4 --backend opencl --out OC > /dev/null
    check "resumed on CPU" "$bin/train_mnist" --resume OC --backend cpu --data data --no-verify > /dev/null
    # every step's losses agree with the uninterrupted CPU run
    for run in CO OC; do
        check "$run follows the CPU run" awk -F, 'NR == FNR {l[$2] = $3 " " $4; next}
            FNR > 1 {split(l[$2], c, " "); for (i = 1; i <= 2; i++) {d = $(i + 2) - c[i]; if (d < 0) d = -d;
                     if (d > 2e-3 + 2e-3 * c[i]) exit 1}}' A/metrics.csv "$run/metrics.csv"
        check "$run has every step" test "$(wc -l < "$run/metrics.csv")" -eq 7
    done
    check "generate on OpenCL" "$bin/generate" --checkpoint A --count 5 --out five_ocl.idx --seed 7 --backend opencl > /dev/null
    check "OpenCL samples match the CPU's within one grey level" bytes_close five.idx five_ocl.idx
    fails_with "no such device" "OpenCL device 99 does not exist" "$bin/train_mnist" "${common[@]}" --backend opencl --device 99 --out X
    fails_with "the program's hint" "--list-devices shows the OpenCL devices" "$bin/train_mnist" "${common[@]}" --backend opencl --device 99 --out X
    # no driver at all: the ICD loader finds no platform in an empty vendor folder
    mkdir -p no_icd
    fails_with "no OpenCL driver" "install the OpenCL driver (ICD)" env OCL_ICD_VENDORS="$PWD/no_icd" \
        "$bin/train_mnist" "${common[@]}" --backend opencl --out X
    fails_with "no OpenCL driver, device list" "no OpenCL platform found" env OCL_ICD_VENDORS="$PWD/no_icd" \
        "$bin/train_mnist" --list-devices
else
    echo "test_apps: no OpenCL device: the OpenCL checks were skipped"
fi

# bad data
fails_with "checksums are checked" "does not match the published" "$bin/train_mnist" --data data --max-steps 1 --out X
make_data short 96
truncate -s -100 short/train-images-idx3-ubyte
fails_with "truncated images" "short/train-images-idx3-ubyte: truncated" "$bin/train_mnist" --data short --no-verify --out X
make_data mismatch 96 95
fails_with "image/label counts" "96 images but 95 labels" "$bin/train_mnist" --data mismatch --no-verify --out X
mkdir -p empty && cd empty
fails_with "no data: says how to fetch" "apps/fetch_mnist.sh data/mnist" env -u GAN_MNIST_DIR "$bin/train_mnist" --out X
cd ..

# damaged or refused checkpoints are never overwritten
cp -r B C
printf '\x55' | dd of=C/checkpoint.safetensors bs=1 seek=$(($(stat -c %s C/checkpoint.safetensors) - 10)) conv=notrunc 2> /dev/null
cp C/checkpoint.safetensors damaged.copy
fails_with "damaged checkpoint" "the file is damaged" "$bin/train_mnist" --resume C --data data --no-verify
check "damaged checkpoint untouched" cmp C/checkpoint.safetensors damaged.copy
fails_with "generate on a damaged checkpoint" "damaged" "$bin/generate" --checkpoint C --count 1 --out x.png
cp A/checkpoint.safetensors a.copy
fails_with "existing run" "already holds a checkpoint" "$bin/train_mnist" "${common[@]}" --out A
check "existing checkpoint untouched" cmp A/checkpoint.safetensors a.copy
fails_with "resume with another model" "--model gan differs" "$bin/train_mnist" --resume A --model gan --data data --no-verify
fails_with "resume into another program" "trained on mnist" "$bin/train_fashion" --resume A --data data --no-verify

# a checkpoint whose values were edited and sealed again with a valid
# checksum: each value is checked as its flag would be
if command -v python3 > /dev/null; then
    forged() { # forged "KEY=VALUE ..." NEEDLE: a copy of B with those values, refused saying NEEDLE
        rm -rf E && cp -r B E && python3 "$here/forge_checkpoint.py" E/checkpoint.safetensors $1
        fails_with "forged $1" "$2" "$bin/train_mnist" --resume E --data data --no-verify
    }
    forged batch=00 "the checkpoint's 'batch' must be between 2 and 65536, got 00"
    forged seed=-1 "the checkpoint's 'seed' must be between 0 and"
    forged rotate=nan "the checkpoint's 'rotate' needs a number, got 'nan'"
    forged epochs=0 "the checkpoint's 'epochs' must be between 1 and"
    forged lr_g=1e-50 "the checkpoint's 'lr_g' is '1e-50', not a number in single precision's range"
    forged lr_g=1e-20 "the checkpoint's 'lr_g' must be between 1e-10 and 1, got 1e-20"
    forged "lr_g=1e-20 lr_d=1e-20" "the checkpoint's 'lr_g' must be between 1e-10 and 1, got 1e-20"
    forged real_label=0.3 "the checkpoint's real label 0.3 is not 1 minus a --label-smooth from 0 to 0.5"
    forged fake_label=0.1 "another eps, fake label or generator label"
    forged beta2=1 "betas must be in [0, 1)"
    forged global_step=3 "does not fit epochs of 3 steps"
    forged step_in_epoch=7 "does not fit epochs of 3 steps"
    forged dataset_images=95 "trained on 95 images"
    forged model=dcgan128 "is not one of the zoo's"
    forged z_dim=32 "the checkpoint's dcgan has latent size 32, 28x28 images and 1 channel(s); this program trains it with 64"
else
    echo "test_apps: no python3: the forged-checkpoint checks were skipped"
fi
# one bit of the metadata changed ("batch":"32" to "22") is a damaged file
cp -r B M && sed -i 's/"batch":"32"/"batch":"22"/' M/checkpoint.safetensors
fails_with "edited metadata" "the file is damaged" "$bin/train_mnist" --resume M --data data --no-verify

# bad flags
fails_with "unknown flag" "unknown option '--epoch'" "$bin/train_mnist" --epoch 3
fails_with "bad number" "--batch needs a whole number, got 'x'" "$bin/train_mnist" --batch x
fails_with "out of range" "--lr must be between" "$bin/train_mnist" --lr -1
fails_with "bad model" "--model takes gan, dcgan, dcgan64, not 'big'" "$bin/train_mnist" --model big --data data --no-verify --out X
fails_with "bad backend" "--backend takes cpu or opencl" "$bin/train_mnist" --backend cuda
fails_with "generate needs its flags" "--checkpoint and --out are required" "$bin/generate" --count 3
fails_with "empty --out" "--out needs a value, got ''" "$bin/train_mnist" --out ""
fails_with "empty --resume" "--resume needs a value, got ''" "$bin/train_mnist" --resume ""
fails_with "empty --data" "--data needs a value, got ''" "$bin/train_mnist" --data ""
fails_with "a path too long" "--out is 900 bytes long" "$bin/train_mnist" --out "$(printf 'x%.0s' {1..900})"
fails_with "a learning rate of zero" "--lr must be between" "$bin/train_mnist" --lr 0
fails_with "a learning rate that underflows" "--lr must be between" "$bin/train_mnist" --lr 1e-50
fails_with "a beta that underflows" "--beta1 of 1e-50 is too small for single precision" "$bin/train_mnist" --beta1 1e-50
make_data other 64
fails_with "resume on another data set size" "the checkpoint was trained on 96 images, other holds 64" \
    "$bin/train_mnist" --resume B --data other --no-verify
mkdir -p gz && cp data/train-labels-idx1-ubyte gz/
{ gzip -c data/train-images-idx3-ubyte; printf 'junk'; } > gz/train-images-idx3-ubyte.gz
fails_with ".gz with trailing bytes" "4 unexpected bytes after the gzip data" "$bin/train_mnist" --data gz --no-verify --out X
check "help lists every flag" bash -c "'$bin/train_mnist' --help | grep -q -- '--sample-every'"

finish test_apps
