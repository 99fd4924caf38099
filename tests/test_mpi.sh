#!/usr/bin/env bash
# Data-parallel training over MPI: 2 processes against 1 with the same
# global batch (the gan model, free of batch norm, to rounding; dcgan
# close), resuming with another number of processes, process 0 alone
# writing, the OpenCL backend, image folders, and a failure stopping all.
# usage: test_mpi.sh BIN_DIR MPIEXEC MAKE_IMAGES
set -uo pipefail
bin=$(cd "$1" && pwd)
mpiexec=$2
make_images=$3
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
. "$here/idx_data.sh"
. "$here/check.sh"
# Open MPI keeps memory to the end on purpose, and allocates it in components
# it unloads, out of LeakSanitizer's reach: leak checks are off in the MPI
# processes (every other sanitizer check stays on; test_trainer checks the
# library's data-parallel code for leaks, with threads for processes)
launch=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$mpiexec" -np 2 --oversubscribe)
[ "$(id -u)" -eq 0 ] && launch+=(--allow-run-as-root)
# metrics_close A B TOL: the same steps, each figure within TOL
metrics_close() {
    [ "$(wc -l < "$1")" -eq "$(wc -l < "$2")" ] &&
        paste -d, "$1" "$2" | awk -F, -v tol="$3" 'NR > 1 {
            if ($2 != $10) exit 1
            for (i = 3; i <= 7; i++) { d = $i - $(i + 8); if (d < 0) d = -d; if (d > tol || $i != $i + 0) exit 1 } }'
}

make_data data 200
common=(--data data --no-verify --log-every 1)

# gan, a batch of 33 shared 17 + 16: the steps of one process, to rounding
check "one process" "$bin/train_mnist" "${common[@]}" --model gan --batch 33 --max-steps 6 --threads 1 --out one > /dev/null
check "two processes" "${launch[@]}" "$bin/train_mnist" "${common[@]}" --model gan --batch 33 --max-steps 6 \
    --out two > two.log
check "says how it shares" grep -q "processes     2, data-parallel over MPI: 16 or 17 images" two.log
check "the same losses" metrics_close one/metrics.csv two/metrics.csv 1e-4
check "generate one" "$bin/generate" --checkpoint one --count 8 --seed 3 --out one.idx > /dev/null
check "generate two" "$bin/generate" --checkpoint two --count 8 --seed 3 --out two.idx > /dev/null
check "the same generator" bytes_close one.idx two.idx
check "process 0 alone writes" test "$(ls two | grep -c events.out.tfevents)" -eq 1
check "one summary" test "$(grep -c '^Configuration' two.log)" -eq 1

# a checkpoint resumes with any number of processes
check "two processes, first part" "${launch[@]}" "$bin/train_mnist" "${common[@]}" --model gan --batch 33 \
    --max-steps 3 --out two_then_one > /dev/null
check "one process goes on" "$bin/train_mnist" --resume two_then_one --data data --no-verify --max-steps 6 \
    --threads 1 > /dev/null
check "the same losses after 2 -> 1" metrics_close one/metrics.csv two_then_one/metrics.csv 1e-4
check "one process, first part" "$bin/train_mnist" "${common[@]}" --model gan --batch 33 --max-steps 3 \
    --threads 1 --out one_then_two > /dev/null
check "two processes go on" "${launch[@]}" "$bin/train_mnist" --resume one_then_two --data data --no-verify \
    --max-steps 6 > /dev/null
check "the same losses after 1 -> 2" metrics_close one/metrics.csv one_then_two/metrics.csv 1e-4

# dcgan: batch norm keeps each process's statistics, so close, not equal
check "dcgan, one process" "$bin/train_mnist" "${common[@]}" --batch 32 --max-steps 3 --threads 1 --out dc1 > /dev/null
check "dcgan, two processes" "${launch[@]}" "$bin/train_mnist" "${common[@]}" --batch 32 --max-steps 3 \
    --out dc2 > /dev/null
check "dcgan losses close" metrics_close dc1/metrics.csv dc2/metrics.csv 0.02

# a folder of pictures, decoded in the background by each process
"$make_images" pictures 24
check "image folder, two processes" "${launch[@]}" "$bin/train_images" --data pictures --batch 8 --max-steps 3 \
    --cache-limit 0 --out pics > /dev/null
check "its checkpoint" test -s pics/checkpoint.safetensors

if "$bin/train_mnist" --list-devices > /dev/null 2>&1; then
    check "OpenCL, two processes" "${launch[@]}" "$bin/train_mnist" "${common[@]}" --model gan --batch 33 \
        --max-steps 6 --backend opencl --out ocl > /dev/null
    check "OpenCL losses as one CPU process's" metrics_close one/metrics.csv ocl/metrics.csv 1e-3
else
    echo "test_mpi: no OpenCL device; the OpenCL run is left out"
fi

# a process that fails stops them all, with its message
fails_with "a failure stops the run" "two already holds a checkpoint" \
    "${launch[@]}" "$bin/train_mnist" "${common[@]}" --model gan --batch 33 --out two
finish test_mpi
