#!/bin/sh
# run_valgrind.sh - the unit tests under valgrind memcheck; any error fails.
passed=0; failed=0
for t in $1; do
    if NC_TEST_QUICK=1 valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        ./tests/bin/$t >/dev/null 2>tests/bin/$t.valgrind; then
        passed=$((passed + 1)); echo "$t (valgrind): ok"
    else
        failed=$((failed + 1)); echo "FAILED: $t (valgrind)"; tail -n 30 tests/bin/$t.valgrind
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
