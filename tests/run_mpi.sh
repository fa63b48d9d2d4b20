#!/bin/sh
# tests/run_mpi.sh - the MPI tests under mpirun -np 1, 2 and 3, or with
# --bench the MPI benchmarks on 1 and 2 ranks. Open MPI needs
# --allow-run-as-root as root and --oversubscribe for more ranks than cores.
# Prints one line per program and rank count, then "N passed, N failed"
# for the tests; exits 1 if any failed.
bench=0
if [ "$1" = "--bench" ]; then bench=1; shift; fi
progs="$1"
mpirun="${2:-mpirun}"
flags="--oversubscribe"
[ "$(id -u)" = 0 ] && flags="$flags --allow-run-as-root"
if [ $bench = 1 ]; then
    for p in $progs; do
        OPENBLAS_NUM_THREADS=1 "$mpirun" $flags -np 1 ./tests/mpi/bench/bin/$p --serial || exit 1
        for np in 1 2; do
            OPENBLAS_NUM_THREADS=1 "$mpirun" $flags --bind-to none -np $np ./tests/mpi/bench/bin/$p || exit 1
        done
    done
    exit 0
fi
passed=0
failed=0
log=$(mktemp)
for p in $progs; do
    for np in 1 2 3; do
        OPENBLAS_NUM_THREADS=1 timeout 600 "$mpirun" $flags -np $np ./tests/mpi/bin/$p >"$log" 2>&1
        rc=$?
        line=$(grep -E '^test_.*: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
        p_n=$(echo "$line" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p')
        f_n=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed$/\1/p')
        if [ $rc -eq 0 ] && [ -n "$line" ] && [ "${f_n:-1}" -eq 0 ]; then
            passed=$((passed + p_n)); echo "$line"
        else
            passed=$((passed + ${p_n:-0})); failed=$((failed + ${f_n:-0}))
            [ "${f_n:-0}" -eq 0 ] && failed=$((failed + 1))
            echo "FAILED: $p (mpirun -np $np, exit $rc)"; sed 's/^/    /' "$log" | tail -n 40
        fi
        grep -E '^largest|^note|^allocation points' "$log" | sed 's/^/    /'
    done
done
rm -f "$log"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
