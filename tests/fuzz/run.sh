#!/usr/bin/env bash
# Runs each libFuzzer harness of a GAN_FUZZ=ON build for a bounded time,
# from seed corpora made fresh; fails on the first crash, leak or
# undefined behaviour (the sanitizers are fatal), leaving the input that
# caused it in the work folder it names.
# usage: tests/fuzz/run.sh BUILD_DIR [SECONDS_EACH]   (default 60)
set -euo pipefail
build=$(cd "$1" && pwd)
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/gan_fuzz.XXXXXX)
mkdir -p "$work/idx" "$work/checkpoint"
"$build/tests/fuzz/make_seeds" "$work/idx" "$work/checkpoint"
status=0 passed=0 failed=0
for harness in idx checkpoint; do
    dict=()
    [ -f "$here/$harness.dict" ] && dict=(-dict="$here/$harness.dict")
    echo "fuzz_$harness: $seconds s"
    if ! (cd "$work" && "$build/tests/fuzz/fuzz_$harness" "${dict[@]}" -max_total_time="$seconds" -max_len=4096 \
            -print_final_stats=1 "$work/$harness" > "$work/$harness.log" 2>&1); then
        tail -40 "$work/$harness.log"
        echo "fuzz_$harness: FAILED; the input and the log are in $work" >&2
        status=1 failed=$((failed + 1))
        continue
    fi
    passed=$((passed + 1))
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$harness.log" | sed "s/^/fuzz_$harness: /"
done
[ "$status" -eq 0 ] && rm -rf "$work"
echo "fuzz: $passed passed, $failed failed"
exit "$status"
