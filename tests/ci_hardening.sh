#!/usr/bin/env bash
# Hardening, run by the README's test command after the plain suite: the
# whole ctest suite again in a build with AddressSanitizer and
# UndefinedBehaviorSanitizer (fatal, clang), then each libFuzzer harness for
# a bounded time. Needs clang and libclang-rt-14-dev.
# usage: tests/ci_hardening.sh [FUZZ_SECONDS_EACH]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
CC=clang cmake -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGAN_FUZZ=ON > /dev/null
cmake --build build-sanitize -j"$(nproc)" > build-sanitize/build.log 2>&1 || { tail -50 build-sanitize/build.log; exit 1; }
ctest --test-dir build-sanitize --output-on-failure
tests/fuzz/run.sh build-sanitize "${1:-60}"
