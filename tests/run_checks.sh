#!/bin/sh
# run_checks.sh - everything `make check` runs, with one closing line
# "N passed, N failed" that counts every check of every stage.
# Arguments: the test program names, the example names, the make command,
# the tool names; or --unit-only and the test program names (`make test`).
unit_only=0
if [ "$1" = "--unit-only" ]; then unit_only=1; shift; fi
TESTS="$1"
EXAMPLES="$2"
MAKE_CMD="${3:-make}"
TOOLS="$4"
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# A harness program prints "<name>: N passed, M failed"; add its counts.
count_harness() { # $1 = label, $2 = exit code; output in $log
    line=$(grep -E '^[A-Za-z0-9_]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        p=$(echo "$line" | sed 's/.*: \([0-9]*\) passed.*/\1/')
        f=$(echo "$line" | sed 's/.* \([0-9]*\) failed$/\1/')
    else
        p=0; f=1
    fi
    if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -ne 0 ]; then
        echo "FAILED: $1 (exit $2)"; sed 's/^/    /' "$log" | tail -n 40
    else
        echo "$1: $p passed"
    fi
    # notes a program prints about checks it skipped (never counted)
    grep ': NOTE:' "$log" | sed 's/^/    /'
}
# pytest -q ends with "N passed, M failed, ... in Xs"; add its counts (errors
# count as failures) and show the skipped tests and the measured numbers.
count_pytest() { # $1 = label, $2 = exit code; output in $log
    line=$(grep -E '[0-9]+ (passed|failed|errors?|skipped)' "$log" | grep -E ' in [0-9.]+s' | tail -n 1)
    p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
    f=0
    for n in $(echo "$line" | grep -oE '[0-9]+ (failed|errors?)' | grep -oE '^[0-9]+'); do f=$((f + n)); done
    p=${p:-0}
    if [ -z "$line" ]; then f=1; fi
    if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -ne 0 ]; then
        echo "FAILED: $1 (exit $2)"; sed 's/^/    /' "$log" | tail -n 60
    else
        echo "$1: $p passed"
    fi
    grep -E '^SKIPPED|: NOTE:' "$log" | sed 's/^/    /'
}
# A plain step counts as one check.
count_step() { # $1 = label, $2 = exit code
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "$1: ok"
    else failed=$((failed + 1)); echo "FAILED: $1 (exit $2)"; sed 's/^/    /' "$log" | tail -n 40; fi
}

echo "== unit tests"
for t in $TESTS; do
    ./tests/bin/$t >"$log" 2>&1; count_harness "$t" $?
done

if [ "$unit_only" = 1 ]; then
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
fi

echo "== examples (short mode)"
for e in $EXAMPLES; do
    ./examples/bin/$e --short >"$log" 2>&1; count_step "example $e" $?
done

echo "== tools (short mode)"
for e in $TOOLS; do
    ./tools/bin/$e --short >"$log" 2>&1; count_step "tool $e" $?
done

echo "== the ncollapse program (tests/test_ncollapse.sh)"
sh tests/test_ncollapse.sh "$MAKE_CMD" >"$log" 2>&1; count_harness "test_ncollapse" $?

echo "== exported symbols"
so=lib/libncollapse.so.0
{ nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | grep -v '^nc_' ; } >"$log" 2>&1
if [ -s "$log" ]; then echo "symbols outside nc_:" >>"$log"; count_step "only nc_ symbols exported" 1
else
    n=$(nm -D --defined-only "$so" | awk '$2 == "T"' | grep -c ' nc_')
    echo "$n nc_ functions exported" >"$log"; count_step "only nc_ symbols exported ($n functions)" 0
fi

echo "== header alone: C99, C11, C++"
ok=0
for std in c99 c11; do
    echo '#include "ncollapse.h"' | ${CC:-cc} -std=$std -Wall -Wextra -Wpedantic -Werror -fsyntax-only -Iinclude -x c - >"$log" 2>&1 || ok=1
done
echo '#include "ncollapse.h"' | ${CXX:-c++} -Wall -Wextra -Wpedantic -Werror -fsyntax-only -Iinclude -x c++ - >>"$log" 2>&1 || ok=1
count_step "header compiles alone" $ok

echo "== layers: each source includes only its own layer and the layers before it"
sh tests/check_layers.sh >"$log" 2>&1; count_harness "check_layers" $?

echo "== docs: every public function, type and constant in docs/API.md"
# The checker and its self-test (which proves it reports a deleted, an
# altered and an invented prototype) each end with a harness line.
if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; else py=$(command -v python3); fi
if [ -n "$py" ]; then
    "$py" tests/check_api_docs.py include/ncollapse.h docs/API.md >"$log" 2>&1
    count_harness "check_api_docs" $?
    "$py" tests/check_api_docs.py --self-test include/ncollapse.h docs/API.md >"$log" 2>&1
    count_harness "check_api_docs --self-test" $?
else
    echo "no python3 found (neither /usr/bin/python3 nor python3 in PATH): docs/API.md cannot be checked" >"$log"
    count_step "check_api_docs" 1
    count_step "check_api_docs --self-test" 1
fi

echo "== staged install + pkg-config"
stage=$(pwd)/tests/stage
rm -rf "$stage"
{
    $MAKE_CMD --no-print-directory install DESTDIR="$stage" PREFIX=/usr/local &&
    PKG_CONFIG_SYSROOT_DIR="$stage" PKG_CONFIG_PATH="$stage/usr/local/lib/pkgconfig" \
        pkg-config --cflags --libs ncollapse > "$stage/flags" &&
    ${CC:-cc} -std=c99 -Wall -Werror examples/balanced_ufm.c $(cat "$stage/flags") -lm -o "$stage/consumer" &&
    LD_LIBRARY_PATH="$stage/usr/local/lib" "$stage/consumer" --short &&
    readelf -d "$stage/consumer" | grep -q 'libncollapse.so.0' &&
    $MAKE_CMD --no-print-directory uninstall DESTDIR="$stage" PREFIX=/usr/local &&
    test -z "$(find "$stage/usr" -type f)"
} >"$log" 2>&1
count_step "program built with pkg-config against a staged install, then uninstalled" $?

echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
for t in $TESTS; do
    NC_TEST_QUICK=1 ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ./tests/bin-san/$t >"$log" 2>&1; count_harness "$t (asan+ubsan)" $?
done

echo "== every allocation failed in turn (AddressSanitizer + LeakSanitizer)"
# The scenario saves files several times per run and runs once per
# allocation: on tmpfs, when there is one, its fsyncs cost nothing.
atmp=${TMPDIR:-/tmp}
if [ -d /dev/shm ] && [ -w /dev/shm ]; then atmp=/dev/shm; fi
TMPDIR="$atmp" OPENBLAS_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    ./tests/bin-san/alloc_failures >"$log" 2>&1
rc=$?
grep '^allocation points' "$log" | sed 's/^/    /'
count_harness "alloc_failures" $rc

echo "== the ncollapse program, every allocation failed in turn (tests/alloc_failures_cli.sh)"
TMPDIR="$atmp" sh tests/alloc_failures_cli.sh >"$log" 2>&1
rc=$?
grep 'allocation points' "$log"
count_harness "alloc_failures_cli" $rc

echo "== the Python package, every allocation failed in turn (lib/alloc-test/libncollapse.so.0)"
# The package's tests below leave this one out; the MPI library's
# (test_mpi_alloc_failures) runs with the MPI tests.
if /usr/bin/python3 -c 'import numpy, pytest' >/dev/null 2>&1; then
    PYTHONPATH=python /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider \
        tests/python/test_alloc_failures.py >"$log" 2>&1
    count_pytest "pytest tests/python/test_alloc_failures.py" $?
else
    echo "pytest tests/python/test_alloc_failures.py: skipped (/usr/bin/python3 lacks numpy or pytest); not counted"
fi

echo "== threading tests under ThreadSanitizer"
# OPENBLAS_NUM_THREADS=1: OpenBLAS's own worker threads are not instrumented
# (the distribution's library is not built with -fsanitize=thread), so
# ThreadSanitizer cannot see their synchronisation and reports races inside
# BLAS calls that are not races. With one BLAS thread every BLAS call runs
# on the calling thread, and what is checked is the library's own threads:
# the model's thread pool and handles used from several threads at once.
for t in $TSAN_TESTS; do
    NC_TEST_QUICK=1 OPENBLAS_NUM_THREADS=1 \
        TSAN_OPTIONS="halt_on_error=1 exitcode=66 allocator_may_return_null=1" \
        ./tests/bin-tsan/$t >"$log" 2>&1; count_harness "$t (tsan)" $?
done

echo "== unit tests under valgrind memcheck"
for t in $TESTS; do
    NC_TEST_QUICK=1 valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        ./tests/bin/$t >"$log" 2>&1; count_harness "$t (valgrind)" $?
done

echo "== fuzzing: .npy, checkpoints, stream files (libFuzzer, ${FUZZ_SECONDS:-8} s each)"
# Three targets of 8 s each keep this stage near its former 25 s; make fuzz
# runs them longer (docs/DESIGN.md, "Fuzzing", records long runs).
fuzz_cc=$(command -v clang || command -v clang-14)
if [ -n "$fuzz_cc" ] && printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' |
    "$fuzz_cc" -x c -fsanitize=fuzzer - -o /dev/null >/dev/null 2>&1; then
    for target in npy checkpoint stream; do
        $MAKE_CMD --no-print-directory fuzz-$target FUZZ_CC="$fuzz_cc" FUZZ_SECONDS="${FUZZ_SECONDS:-8}" >"$log" 2>&1
        rc=$?
        runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 executions in \2 s/p' "$log")
        count_step "fuzz_$target: ${runs:-no run}, no crash" $rc
    done
else
    echo "fuzzing: skipped (no clang with libFuzzer: apt-get install clang-14 libclang-rt-14-dev); not counted"
fi

echo "== bit-identities under a second compiler (clang -O2 -march=native)"
# The kernels are bit-identical across instruction sets and the transposed
# losses to the column ones only if no compiler fuses a * b + c behind the
# code's back (-ffp-contract=off in the Makefile); clang contracts by default
# and -march=native gives it FMA instructions, so build the tests that
# compare bits with it, in a copy of the sources.
clang_cc=$(command -v clang || command -v clang-14)
if [ -n "$clang_cc" ]; then
    cdir=$(mktemp -d)
    mkdir -p "$cdir/tests" && cp -r Makefile include src "$cdir/" && cp tests/*.c tests/*.h tests/deps.sh "$cdir/tests/"
    if $MAKE_CMD --no-print-directory -C "$cdir" CC="$clang_cc" CFLAGS="-O2 -g -march=native" \
        tests/bin/test_kernels_fused tests/bin/test_kernels_vmath tests/bin/test_kernels_rules >"$log" 2>&1; then
        for t in test_kernels_fused test_kernels_vmath test_kernels_rules; do
            "$cdir/tests/bin/$t" >"$log" 2>&1; count_harness "$t (clang)" $?
        done
    else
        count_step "clang build of test_kernels_fused, test_kernels_vmath and test_kernels_rules" 1
    fi
    rm -rf "$cdir"
else
    echo "clang: not found; the second-compiler stage is skipped, not counted"
fi

echo "== end-to-end: a small MLP on the digits dataset, measured by ncollapse analyze"
if /usr/bin/python3 -c 'import torch, sklearn, numpy' >/dev/null 2>&1; then
    /usr/bin/python3 examples/digits_end_to_end.py --analyzer tools/bin/ncollapse >"$log" 2>&1
    rc=$?
    agree=$(sed -n 's/^largest relative difference between ncollapse analyze and NumPy: \([^ ]*\).*/\1/p' "$log")
    count_step "digits_end_to_end.py (analyser vs NumPy: ${agree:-?} relative)" $rc
else
    echo "digits_end_to_end.py: skipped (/usr/bin/python3 lacks torch, sklearn or numpy); not counted"
fi

echo "== MPI: libncollapse_mpi's tests under mpirun -np 1, 2 and 3"
if [ -n "$MPI_TESTS" ]; then
    # the symbols of the MPI library: nc_mpi_ only
    nm -D --defined-only lib/libncollapse_mpi.so.0 | awk '$2 ~ /^[TDBRVW]$/ {print $3}' |
        grep -v '^nc_mpi_' | grep -v '^_' >"$log"
    if [ -s "$log" ]; then count_step "only nc_mpi_ symbols exported by libncollapse_mpi" 1
    else count_step "only nc_mpi_ symbols exported by libncollapse_mpi" 0; fi
    echo '#include "ncollapse_mpi.h"' | ${MPICC:-mpicc} -std=c99 -Wall -Wextra -Wpedantic -Werror \
        -fsyntax-only -Iinclude -x c - >"$log" 2>&1
    count_step "ncollapse_mpi.h compiles alone (C99)" $?
    sh tests/run_mpi.sh "$MPI_TESTS" "${MPIRUN:-mpirun}" >"$log" 2>&1
    rc=$?
    grep -v '^[0-9]* passed' "$log"
    p=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$log" | tail -n 1)
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
    if [ $rc -ne 0 ] && [ "${f:-0}" -eq 0 ]; then failed=$((failed + 1)); fi
else
    echo "MPI: skipped (no mpicc: apt-get install libopenmpi-dev openmpi-bin); not counted"
fi

echo "== the Python package (pytest and the examples under /usr/bin/python3)"
if /usr/bin/python3 -c 'import numpy, pytest' >/dev/null 2>&1; then
    PYTHONPATH=python /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider \
        --ignore=tests/python/test_alloc_failures.py tests/python >"$log" 2>&1
    count_pytest "pytest tests/python" $?
    if /usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1; then
        out=$(mktemp -d)
        PYTHONPATH=python MPLBACKEND=Agg /usr/bin/python3 examples/python/ufm_simulation.py --short \
            --out "$out/ufm.png" >"$log" 2>&1 && test -s "$out/ufm.png"
        count_step "examples/python/ufm_simulation.py --short" $?
        rm -rf "$out"
    else
        echo "examples/python/ufm_simulation.py: skipped (/usr/bin/python3 lacks matplotlib); not counted"
    fi
    if /usr/bin/python3 -c 'import torch, sklearn' >/dev/null 2>&1; then
        PYTHONPATH=python /usr/bin/python3 examples/python/digits_end_to_end.py >"$log" 2>&1
        rc=$?
        agree=$(sed -n 's/^largest relative difference between ncollapse and NumPy: \([^ ]*\).*/\1/p' "$log")
        count_step "examples/python/digits_end_to_end.py (package vs NumPy: ${agree:-?} relative)" $rc
    else
        echo "examples/python/digits_end_to_end.py: skipped (/usr/bin/python3 lacks torch or sklearn); not counted"
    fi
else
    echo "pytest tests/python: skipped (/usr/bin/python3 lacks numpy or pytest: apt-get install python3-numpy python3-pytest); not counted"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
