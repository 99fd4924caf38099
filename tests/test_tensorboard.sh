#!/usr/bin/env bash
# The training program's TensorBoard logs: decoded by an independent reader
# (events_dump: framing, both CRCs, varints) and, where python3-protobuf is
# installed, by protobuf itself through TensorBoard's message layout
# (tensorboard_decode.py); every scalar checked against metrics.csv, the
# images against the sample grids, a resumed run's new file and its restart
# mark, and --no-tensorboard.
# usage: test_tensorboard.sh BIN_DIR EVENTS_DUMP
set -uo pipefail
bin=$(cd "$1" && pwd)
dump=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
. "$here/idx_data.sh"
. "$here/check.sh"
# every scalar of the dump against the metrics.csv row of its step (the
# file rounds to 6 digits), and the rows of those steps all present
scalars_match() { # scalars_match DUMP METRICS LOG_EVERY FIRST LAST
    awk -v every="$3" -v first="$4" -v last="$5" '
        NR == FNR { if (FNR > 1) { split($0, f, ","); row[f[2]] = $0 } next }
        $1 == "scalar" {
            split(row[$2], f, ",")
            col["loss/D"] = 3; col["loss/G"] = 4; col["D(x)"] = 5; col["D(G(z))/before_D_step"] = 6; col["D(G(z))/after_D_step"] = 7
            if ($3 in col) { want = f[col[$3]]; d = $4 - want; if (d < 0) d = -d; if (d > 1e-5 * (want < 0 ? -want : want) + 1e-7) { print "mismatch: " $0 " vs " row[$2]; bad = 1 } }
            else if ($3 == "lr/G" || $3 == "lr/D") { if ($4 != 0.000199999995) { print "lr: " $0; bad = 1 } }
            else if ($3 == "speed/images_per_s") { if (!($4 > 0)) { print "speed: " $0; bad = 1 } }
            else { print "unknown tag: " $0; bad = 1 }
            seen[$2 " " $3] = 1; steps[$2] = 1
        }
        END {
            for (s = first; s <= last; s++) {
                if ((s % every == 0) != (s in steps)) { print "step " s ": expected " (s % every == 0 ? "scalars" : "none"); bad = 1 }
                if (s % every == 0) for (t in col) if (!((s " " t) in seen)) { print "step " s " lacks " t; bad = 1 }
            }
            exit bad
        }' "$2" "$1"
}

make_data data 96
common=(--data data --no-verify --batch 16 --threads 2 --log-every 2)
check "run" "$bin/train_mnist" "${common[@]}" --epochs 2 --sample-every 4 --out A > /dev/null
events=(A/events.out.tfevents.*)
check "one event file, named as TensorBoard names them" test "${#events[@]}" -eq 1 -a -s "${events[0]}"
[[ ${events[0]} =~ /events\.out\.tfevents\.[0-9]{10}\.[^/]+$ ]]; check "file name pattern" test $? -eq 0
check "events_dump reads it" "$dump" "${events[0]}" > A.dump
check "first record: file_version" test "$(head -1 A.dump)" = "version brain.Event:2"
check "scalars every 2 steps match metrics.csv" scalars_match A.dump A/metrics.csv 2 1 12
# grids at steps 4, 8 and 12 (--sample-every) and at the ends of the epochs (6, 12)
check "images at the sample steps" test "$(awk '$1 == "image" {print $2}' A.dump | tr '\n' ' ')" = "4 6 8 12 12 "
check "images are the 8x8 grids" test -z "$(awk '$1 == "image" && ($3 != "samples" || $4 != 242 || $5 != 242 || $6 != 1)' A.dump)"
if "$python" -c "import google.protobuf" 2> /dev/null; then
    check "protobuf decodes the same records" cmp A.dump <("$python" "$here/tensorboard_decode.py" "${events[0]}")
else
    echo "test_tensorboard: no python3-protobuf: the protobuf decoding was skipped"
fi

# a damaged byte is caught by the reader's CRCs (the test's own check)
cp "${events[0]}" bad.events
printf '\x00' | dd of=bad.events bs=1 seek=40 conv=notrunc 2> /dev/null
check "events_dump refuses a damaged file" bash -c "! '$dump' bad.events > /dev/null 2>&1"

# stop and resume: a second file that starts with the restart mark, and the
# steps continue
check "first part" "$bin/train_mnist" "${common[@]}" --epochs 2 --max-steps 5 --out B > /dev/null
sleep 1
check "resume" "$bin/train_mnist" --resume B --threads 2 --log-every 2 --data data --no-verify > /dev/null
files=(B/events.out.tfevents.*)
check "two event files" test "${#files[@]}" -eq 2
"$dump" "${files[0]}" > B1.dump && "$dump" "${files[1]}" > B2.dump
check "the first part's steps" scalars_match B1.dump B/metrics.csv 2 1 5
check "the resumed file marks the restart at step 5" test "$(sed -n 2p B2.dump)" = "restart 5"
check "and goes on from step 6" scalars_match B2.dump B/metrics.csv 2 6 12

check "--no-tensorboard" "$bin/train_mnist" "${common[@]}" --max-steps 2 --no-tensorboard --out C > /dev/null
check "writes no event file" test -z "$(ls C | grep tfevents)"

finish test_tensorboard
