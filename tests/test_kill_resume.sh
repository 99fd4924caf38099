#!/usr/bin/env bash
# Kills train_mnist (SIGKILL) at random moments, resumes it each time, and
# checks that the run folder survives: after every kill the checkpoint
# loads, a resume leaves metrics.csv with exactly one well-formed row per
# step, in order, no temporary file outlives the next run, and the run that
# was killed again and again ends with the same checkpoint, byte for byte,
# and the same metrics as one that never was; the TensorBoard logs of all
# its parts hold every step.
# usage: test_kill_resume.sh BIN_DIR [EVENTS_DUMP]
set -uo pipefail
bin=$(cd "$1" && pwd)
events_dump=${2:+$(cd "$(dirname "$2")" && pwd)/$(basename "$2")}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
. "$here/idx_data.sh"
. "$here/check.sh"
# one row per step 1..N in order, 8 fields each, and the header first
rows_ok() { # rows_ok FILE N
    awk -F, -v n="$2" 'NR == 1 {if ($0 != "epoch,step,loss_d,loss_g,d_x,d_g_z1,d_g_z2,seconds") exit 1; next}
        {if (NF != 8 || $2 != NR - 1) exit 1} END {if (NR - 1 != n) exit 1}' "$1"
}

make_data data 64
# 2 steps an epoch, so a checkpoint every 2 steps, 12 epochs; a grid every
# step makes for many writes to interrupt
base=(--data data --no-verify --batch 32 --threads 2 --epochs 12 --log-every 1)
args=("${base[@]}" --sample-every 1)
check "uninterrupted run" "$bin/train_mnist" "${args[@]}" --out whole > /dev/null

# runs killed after a random 0.05 to 0.79 s, each resuming the last, then one
# that finishes; the inner shell takes the report of the killed process
RANDOM=${GAN_TEST_SEED:-7}
kills=0
for attempt in $(seq 1 12); do
    if [ -f killed/checkpoint.safetensors ]; then
        cmd=("$bin/train_mnist" --resume killed --threads 2 --log-every 1 --data data --no-verify)
    else
        cmd=("$bin/train_mnist" "${args[@]}" --out killed)
    fi
    delay=$(printf '0.%02d' $((RANDOM % 75 + 5)))
    bash -c '"$@"; exit $?' _ timeout -s KILL "$delay" "${cmd[@]}" > /dev/null 2>&1
    [ $? -eq 137 ] && kills=$((kills + 1))
    if [ -f killed/checkpoint.safetensors ]; then
        check "checkpoint loads after attempt $attempt" "$bin/generate" --checkpoint killed --count 1 --out probe.idx > /dev/null
        if [ -f killed/metrics.csv ]; then
            # what a kill leaves: the header, whole rows from step 1 on, at most a torn last one
            check "metrics after attempt $attempt are whole rows from step 1" awk -F, 'NR == 1 {ok = /^epoch,step,/; next}
                {if (last) bad = 1; if (NF != 8 || $2 != NR - 1 || substr($0, length($0)) ~ /,/) last = 1} END {exit bad || !ok}' killed/metrics.csv
        fi
    fi
done
echo "test_kill_resume: $kills run(s) killed"
check "runs were killed" test "$kills" -ge 1
if [ -f killed/checkpoint.safetensors ]; then
    check "the last resume finishes" "$bin/train_mnist" --resume killed --threads 2 --log-every 1 --data data --no-verify > /dev/null
else
    check "a run finishes" "$bin/train_mnist" "${args[@]}" --out killed > /dev/null
fi
check "metrics: one well-formed row per step, in order" rows_ok killed/metrics.csv 24
check "metrics match the uninterrupted run" cmp <(cut -d, -f1-7 whole/metrics.csv) <(cut -d, -f1-7 killed/metrics.csv)
check "the same checkpoint, byte for byte" cmp whole/checkpoint.safetensors killed/checkpoint.safetensors
check "no temporary file left" test -z "$(find killed -name '*.tmp*' | tee /dev/stderr)"
# the TensorBoard files together hold every step's scalars: what a kill
# lost after a checkpoint, the resumed run logged again (a killed run's file
# may end in a torn record, which the reader reports and TensorBoard skips)
if [ -n "$events_dump" ]; then
    for f in killed/events.out.tfevents.*; do "$events_dump" "$f" 2> /dev/null; done > killed.dump
    check "every step is in the TensorBoard logs" test "$(awk '$1 == "scalar" && $3 == "loss/D" {print $2}' killed.dump | sort -un | wc -l)" -eq 24
fi

# a stale temporary beside the checkpoint goes with the next run
cp -r whole stale
: > stale/checkpoint.safetensors.tmp4242
: > stale/samples/epoch_001.png.tmp4242
: > stale/progress.gif.tmp4242
check "resume with a stale temporary" "$bin/train_mnist" --resume stale --epochs 13 --threads 2 --data data --no-verify > /dev/null
check "stale temporaries removed" test -z "$(find stale -name '*.tmp*')"
check "metrics after extending the run" rows_ok stale/metrics.csv 26

# a half-written last row and rows past the checkpoint are dropped on resume
"$bin/train_mnist" "${args[@]}" --max-steps 5 --out half > /dev/null
printf '1,6,0.5,0.5,0.5,0.5,0.5,1.0\n1,7,0.5,0.' >> half/metrics.csv
check "resume after a torn row" "$bin/train_mnist" --resume half --threads 2 --data data --no-verify > /dev/null
check "torn and orphan rows replaced" rows_ok half/metrics.csv 24
check "and the run is the uninterrupted one" cmp <(cut -d, -f1-7 whole/metrics.csv) <(cut -d, -f1-7 half/metrics.csv)

# a new run in a folder with an old metrics.csv and no checkpoint starts it anew
mkdir -p fresh && printf 'epoch,step\n9,99\n' > fresh/metrics.csv
check "fresh run over an old metrics.csv" "$bin/train_mnist" "${args[@]}" --max-steps 3 --out fresh > /dev/null
check "old rows gone" rows_ok fresh/metrics.csv 3

# a sample grid that cannot be written stops the run, and the epoch's
# checkpoint is kept (a directory where the grid would go makes the write fail)
mkdir -p nogrid/samples/epoch_001.png
"$bin/train_mnist" "${base[@]}" --out nogrid > nogrid.log 2>&1
check "the failing grid is reported" grep -q "epoch_001.png: cannot write the image" nogrid.log
check "the epoch's checkpoint was saved first" test -s nogrid/checkpoint.safetensors
check "and it holds epoch 1" grep -q '"epoch":"1"' nogrid/checkpoint.safetensors

finish test_kill_resume
