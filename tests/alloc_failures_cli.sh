#!/bin/sh
# alloc_failures_cli.sh - every allocation of the ncollapse program failed in
# turn. The program is built against the AddressSanitizer library with its
# own and the library's malloc, calloc and realloc wrapped at link time
# (tests/alloc_wrap.c; make tests/bin-san/ncollapse_alloc): NC_FAIL_ALLOC=k
# fails the k-th allocation, NC_FAIL_ALLOC=0 counts them. Short invocations
# of train, predict (from flags and --compare), sweep and analyze are first
# run counting (the count is read from the run, not written here, so it
# follows changes of the program), then once per allocation k in a fresh
# directory. Each run must
#   - exit 0 or 1, with no sanitizer report (a crash, a signal, an error
#     of memory or undefined behaviour, a leak at exit);
#   - on exit 1, say on stderr that memory ran out (NC_ERR_OUT_OF_MEMORY or
#     "out of memory");
#   - leave no temporary file, and no file that differs from the one the
#     run without failures writes (outputs are atomic: a file is complete
#     or absent), nor a file that run does not leave;
#   - on exit 0 (the failure absorbed), leave exactly that run's files and
#     print its output.
# Prints per invocation the allocation points and the outcomes; ends with
# "alloc_failures_cli: N passed, M failed" (tests/run_checks.sh counts it).
# Usage: sh tests/alloc_failures_cli.sh [program]
NC=${1:-$(pwd)/tests/bin-san/ncollapse_alloc}
case $NC in /*) ;; *) NC=$(pwd)/$NC ;; esac
export OPENBLAS_NUM_THREADS=1
# distinct exit codes for the sanitizers' reports (ASan's also covers leaks)
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:exitcode=86
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87
unset NC_FAIL_ALLOC
known_values=""
resumable="" # case_: the run directory a failed run may leave for --resume
passed=0
failed=0
base=${TMPDIR:-/tmp}
if [ -d /dev/shm ] && [ -w /dev/shm ]; then base=/dev/shm; fi
tmp=$(mktemp -d "$base/nc_alloc_cli.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
if [ ! -x "$NC" ]; then
    echo "no program $NC (make tests/bin-san/ncollapse_alloc)"
    echo "alloc_failures_cli: 0 passed, 1 failed"
    exit 1
fi
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

# The inputs of predict --compare and analyze: a trained run, written once
# by the program without failures.
(cd "$tmp" && "$NC" train --quiet --out run --counts 6,3,3 --dim 4 --steps 20 --record-every 5 \
    --bias >/dev/null 2>"$tmp/err") || { bad "the input run: $(cat "$tmp/err")"; }

# fresh: an empty work directory holding a copy of the input run
fresh() {
    rm -rf "$tmp/w" && mkdir "$tmp/w" && cp -r "$tmp/run" "$tmp/w/run"
}
# files of the work directory other than the input run, sorted
files() { (cd "$tmp/w" && find . -path ./run -prune -o -type f -print | sort); }

# case NAME ARGS...: the invocation counted, then failed at every allocation.
# With known_values set, a run that exits 0 with other values in its files
# is counted apart and reported as a NOTE (a defect known and not fixed
# here, named in known_values), not as a failure; everything else holds.
case_() {
    name=$1
    shift
    fresh
    (cd "$tmp/w" && NC_FAIL_ALLOC=0 "$NC" "$@" >"$tmp/ref.out" 2>"$tmp/ref.err")
    rc=$?
    n=$(sed -n 's/^alloc_wrap: \([0-9]*\) allocations$/\1/p' "$tmp/ref.err" | tail -n 1)
    if [ $rc -ne 0 ] || [ -z "$n" ] || [ "$n" -lt 1 ]; then
        bad "$name: the run without failures (exit $rc): $(head -c 300 "$tmp/ref.err")"
        return
    fi
    ok
    files >"$tmp/ref.files"
    rm -rf "$tmp/ref" && mv "$tmp/w" "$tmp/ref"
    refused=0 absorbed=0 nbad=0 first="" changed=0 resumed=0
    k=1
    while [ $k -le "$n" ]; do
        fresh
        (cd "$tmp/w" && NC_FAIL_ALLOC=$k "$NC" "$@" >"$tmp/out" 2>"$tmp/err")
        rc=$?
        why=""
        if grep -q 'Sanitizer\|runtime error' "$tmp/err"; then why="a sanitizer report (exit $rc)"
        elif [ $rc -ne 0 ] && [ $rc -ne 1 ]; then why="exit $rc"
        elif [ $rc -eq 1 ] && ! grep -q 'NC_ERR_OUT_OF_MEMORY\|out of memory' "$tmp/err"; then
            why="exit 1 without NC_ERR_OUT_OF_MEMORY or 'out of memory' on stderr"
        elif [ $rc -eq 1 ] && [ -n "$resumable" ]; then
            # a failed run with mid-run checkpoints leaves complete files of an earlier step:
            # with a checkpoint there, --resume must end in the run without failures' files
            files >"$tmp/got.files"
            if grep -q '\.tmp' "$tmp/got.files"; then why="a temporary file left: $(grep '\.tmp' "$tmp/got.files" | head -n 1)"
            elif differs=$(for f in $(cat "$tmp/got.files"); do cmp -s "$tmp/w/$f" "$tmp/ref/$f" || echo "$f"; done) &&
                [ -z "$differs" ]; then
                : # the files it left are the final ones (a failure after the last checkpoint)
            elif [ -e "$tmp/w/$resumable/checkpoint" ]; then
                resumed=$((resumed + 1))
                if ! (cd "$tmp/w" && "$NC" train --quiet --resume "$resumable" $resume_steps >/dev/null 2>"$tmp/err2"); then
                    why="the left state does not resume: $(head -c 300 "$tmp/err2")"
                else
                    files >"$tmp/got.files"
                    cmp -s "$tmp/ref.files" "$tmp/got.files" || why="the resumed run lacks outputs"
                    for f in $(cat "$tmp/got.files"); do
                        [ -n "$why" ] && break
                        cmp -s "$tmp/w/$f" "$tmp/ref/$f" || why="$f differs after the resume"
                    done
                fi
            fi
        else
            files >"$tmp/got.files"
            if grep -q '\.tmp' "$tmp/got.files"; then why="a temporary file left: $(grep '\.tmp' "$tmp/got.files" | head -n 1)"
            elif [ -n "$(comm -13 "$tmp/ref.files" "$tmp/got.files")" ]; then
                why="a file the run without failures does not leave: $(comm -13 "$tmp/ref.files" "$tmp/got.files" | head -n 1)"
            else
                for f in $(cat "$tmp/got.files"); do
                    cmp -s "$tmp/w/$f" "$tmp/ref/$f" || { why="$f differs from the run without failures"; break; }
                done
                if [ -n "$why" ] && [ $rc -eq 0 ] && [ -n "$known_values" ] && cmp -s "$tmp/ref.files" "$tmp/got.files"; then
                    changed=$((changed + 1))
                    why=""
                    k=$((k + 1))
                    continue
                fi
                if [ -z "$why" ] && [ $rc -eq 0 ]; then
                    if ! cmp -s "$tmp/ref.files" "$tmp/got.files"; then why="exit 0 without every output"
                    elif ! cmp -s "$tmp/out" "$tmp/ref.out"; then why="exit 0 with another output"; fi
                fi
            fi
        fi
        if [ -n "$why" ]; then
            nbad=$((nbad + 1))
            [ -z "$first" ] && first="allocation $k: $why: $(grep -v '^alloc_wrap' "$tmp/err" | head -c 400)"
        elif [ $rc -eq 0 ]; then absorbed=$((absorbed + 1))
        else refused=$((refused + 1)); fi
        k=$((k + 1))
    done
    echo "    $name: $n allocation points: $refused refused (exit 1, out of memory), $absorbed absorbed (exit 0, the same outputs), $nbad bad"
    [ -n "$resumable" ] && echo "    $name: $resumed of the refused runs left a checkpoint, resumed to the same files"
    if [ $changed -gt 0 ]; then
        echo "    $name: NOTE: $changed runs exit 0 with other values in their outputs ($known_values); not counted"
    fi
    if [ $nbad -eq 0 ]; then ok; else bad "$name: $nbad bad outcomes; the first: $first"; fi
    rm -rf "$tmp/ref"
}

case_ train train --quiet --out t --counts 6,3,3 --dim 4 --steps 20 --record-every 5
case_ "train (deep, bias, escape)" train --quiet --out t --counts 6,3,3 --dim 4 --steps 10 \
    --depth 2 --bias --optimizer lbfgs --escape 1
resumable=t resume_steps="--steps 20"
case_ "train --checkpoint-every" train --quiet --out t --counts 6,3,3 --dim 4 --steps 20 \
    --record-every 5 --checkpoint-every 10
resumable="" resume_steps=""
case_ predict predict --counts 6,3,3 --dim 4 --json
case_ "predict --compare" predict --compare run
case_ sweep sweep --quiet --out s -j 1 --grid lambda=0.001,0.002 --counts 6,3,3 --dim 4 --steps 20
case_ analyze analyze --csv --out a.csv --per-class pc.csv run
case_ "analyze --threads 2" analyze --csv --threads 2 --out a.csv --per-class pc.csv run

echo "alloc_failures_cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
