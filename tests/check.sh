# check.sh - sourced by the shell tests: counted checks and the closing line.

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

finish() { # finish NAME: the closing line; the exit status of the test
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
