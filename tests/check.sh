# check.sh - sourced by the shell tests: counted checks, a byte comparison
# within one level, and the closing line.

passed=0 failed=0

check() { # check "what" command...: the command must succeed
    local what=$1; shift
    if "$@"; then passed=$((passed + 1)); else echo "FAIL: $what" >&2; failed=$((failed + 1)); fi
}

fails_with() { # fails_with "what" "needle" command...: must exit non-zero saying needle
    local what=$1 needle=$2; shift 2
    local out
    if out=$("$@" 2>&1); then
        echo "FAIL: $what: succeeded" >&2; failed=$((failed + 1))
    elif [[ $out != *"$needle"* ]]; then
        echo "FAIL: $what: message lacks '$needle':" >&2; echo "$out" | tail -3 >&2; failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
}

bytes_close() { # bytes_close A B: every byte of two equally long files within 1
    paste <(od -An -tu1 -v "$1" | tr -s ' ' '\n' | sed '/^$/d') <(od -An -tu1 -v "$2" | tr -s ' ' '\n' | sed '/^$/d') |
        awk 'NF != 2 {exit 1} {d = $1 - $2; if (d < 0) d = -d; if (d > 1) exit 1}'
}

finish() { # finish NAME: the closing line; the exit status of the test
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
