#!/bin/sh
# test_ncollapse.sh - the ncollapse program in short runs: --help on every
# command, a table of bad invocations (message and exit status), outputs
# parsed back and checked against independent routes (the summary, the
# prediction, NumPy and the library's in-memory metrics through
# tests/analyze_reference.py), analyze streamed in chunks and in shards,
# its messages, ncollapse-mpi analyze under mpirun -np 1, 2 and 3 against
# the serial program, --resume bit-identical (also L-BFGS, and from the
# mid-run checkpoint of a killed run), sweep -j 2 equal to -j 1, an
# interrupted sweep that leaves no partial file and resumes to the same
# result, install and uninstall. Ends with "test_ncollapse: N passed,
# M failed" (tests/run_checks.sh counts it).
# Usage: sh tests/test_ncollapse.sh [make command]
MAKE_CMD=${1:-make}
ROOT=$(pwd)
NC=$ROOT/tools/bin/ncollapse
NCMPI=$ROOT/tools/bin/ncollapse-mpi
REF=$ROOT/tests/analyze_reference.py
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
# expect STATUS PATTERN command...: exit status and a line of stderr matching PATTERN
expect() {
    want=$1; pat=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -ne "$want" ]; then bad "$* exited $got, expected $want: $(head -c 300 "$tmp/err")"
    elif [ -n "$pat" ] && ! grep -q -- "$pat" "$tmp/err"; then bad "$*: stderr lacks '$pat': $(head -c 300 "$tmp/err")"
    else ok; fi
}
# same A B what: the two files are identical
same() { if cmp -s "$1" "$2"; then ok; else bad "$3: $1 and $2 differ"; fi; }
# close A B TOL what: |A - B| <= TOL * max(|A|, |B|, 1e-300)
close() {
    if awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; m = (a < 0 ? -a : a); n = (b < 0 ? -b : b);
        if (n > m) m = n; exit !(a == a + 0 && b == b + 0 && d <= t * (m > 1e-300 ? m : 1e-300)) }'; then ok
    else bad "$4: $1 and $2 differ beyond $3"; fi
}
col() { head -n 1 "$1" | tr ',' '\n' | grep -n -x "$2" | cut -d: -f1; }
csvget() { awk -F, -v r="$2" -v c="$(col "$1" "$3")" 'NR == r + 1 { print $c }' "$1"; }
jget() { sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1"; }

cd "$tmp" || exit 1

# --- help on every command -------------------------------------------------------------------
for c in train predict sweep analyze; do
    "$NC" $c --help >out 2>&1 && grep -q "^usage: ncollapse $c" out && ok || bad "ncollapse $c --help"
done
"$NC" --help | grep -q "train" && ok || bad "ncollapse --help"
"$NC" version | grep -q "libncollapse" && ok || bad "ncollapse version"

# --- bad invocations: status and message ------------------------------------------------------
expect 2 "unknown command" "$NC" frobnicate
expect 2 "usage" "$NC"
expect 2 "unknown flag '--frobnicate'" "$NC" train --out r --frobnicate 1
expect 2 "unknown flag '-x'" "$NC" train --out r -x
expect 2 "--dim: missing value" "$NC" train --out r --dim
expect 2 "--dim: expected an integer in \[1, 1000000\], got '0'" "$NC" train --out r --dim 0
expect 2 "--dim: expected an integer in \[1, 1000000\], got '3.5'" "$NC" train --out r --dim 3.5
expect 2 "--dim: expected an integer in \[1, 1000000\], got '-4'" "$NC" train --out r --dim -4
expect 2 "--lambda: expected a finite number in \[0, inf), got '-1'" "$NC" train --out r --lambda -1
expect 2 "--lambda: expected a finite number in \[0, inf), got 'nan'" "$NC" train --out r --lambda nan
expect 2 "--lambda: expected a finite number in \[0, inf), got '1e999'" "$NC" train --out r --lambda 1e999
expect 2 "--momentum: expected a finite number in \[0, 1), got '1'" "$NC" train --out r --momentum 1
expect 2 "--rho: expected a finite number in (0, 1\], got '0'" "$NC" train --out r --rho 0
expect 2 "--lr: expected a finite number in (0, inf), got '0'" "$NC" train --out r --lr 0
expect 2 "--smoothing: expected a finite number in \[0, 1), got '1'" "$NC" train --out r --smoothing 1
expect 2 "--loss: expected one of ce, mse, label-smoothing, focal, weighted-ce, logit-adjusted, dot-regression, got 'hinge'" "$NC" train --out r --loss hinge
expect 2 "--optimizer: expected one of gd, nesterov, adam, lbfgs, got 'sgd'" "$NC" train --out r --optimizer sgd
expect 2 "--classes: expected an integer in \[2, 4096\], got '1'" "$NC" train --out r --classes 1
expect 2 "--threads: expected an integer in \[1, 1024\], got '0'" "$NC" train --out r --threads 0
expect 2 "--counts: expected 2 to 4096 integers" "$NC" train --out r --counts 5,0,3
expect 2 "--counts: expected 2 to 4096 integers" "$NC" train --out r --counts 5,,3
expect 2 "--counts: expected at least two classes" "$NC" train --out r --counts 7
expect 2 "--bias: takes no value" "$NC" train --out r --bias=yes
expect 2 "--out: missing" "$NC" train --steps 10
expect 2 "--resume: no saved configuration" "$NC" train --resume nowhere
expect 2 "--grid: missing" "$NC" sweep --out s
expect 2 "--grid: expected NAME=SPEC" "$NC" sweep --out s --grid lambda
expect 2 "--grid: 'steps' is not a flag" "$NC" sweep --out s --grid steps=1,2
expect 2 "--grid: 'bias' is not a flag" "$NC" sweep --out s --grid bias=1,2
expect 2 "--grid lambda: --lambda: expected a finite number in \[0, inf), got '-1'" "$NC" sweep --out s --grid lambda=-1,1
expect 2 "--grid lambda: expected LO:HI:COUNT" "$NC" sweep --out s --grid lambda=0:1:0
expect 2 "--grid lambda: expected LO:HI:COUNT" "$NC" sweep --out s --grid lambda=0:1:5:log
expect 2 "--grid: at most two axes" "$NC" sweep --out s --grid lambda=1 --grid dim=2 --grid depth=1
expect 2 "--grid: the two axes vary the same flag" "$NC" sweep --out s --grid lambda=1 --grid lambda=2
expect 2 "--jobs: expected an integer in \[1, 256\], got '0'" "$NC" sweep --out s --grid lambda=1 -j 0
expect 2 "--labels: missing" "$NC" analyze features.npy
expect 2 "no snapshot given" "$NC" analyze --csv
expect 2 "--csv and --json" "$NC" analyze --csv --json run
expect 2 "--global-mean: expected one of sample, class-avg, got 'median'" "$NC" analyze --global-mean median x
[ ! -e r ] && [ ! -e s ] && ok || bad "a refused invocation left an output behind"
# failures of the library or of files: status 1 and the library's message
expect 1 "NC_ERR_INVALID_SIZE" "$NC" train --out r --classifier etf --classes 8 --dim 4 --steps 5
expect 1 "NC_ERR_UNSUPPORTED" "$NC" predict --loss focal --counts 3,2
expect 1 "NC_ERR_IO" "$NC" analyze --labels missing.npy missing.npy
expect 1 "NC_ERR_IO" "$NC" train --out /proc/ncollapse-cannot --steps 2 --quiet
expect 1 "NC_ERR_DIVERGED" "$NC" train --out r --lr 1e30 --loss mse --steps 50 --quiet
[ ! -e r ] && ok || bad "a failed run left an output directory"

# --- train: outputs parsed back --------------------------------------------------------------
FL="--counts 60,30,15,15 --dim 8 --loss mse --lambda 1e-3 --momentum 0.9 --record-every 50"
"$NC" train --quiet --out a $FL --steps 400 --depth 2 --bias >out 2>&1 || bad "train: $(cat out)"
for f in config history.csv history.json H.npy W.npy P.npy b.npy labels.npy checkpoint summary.json; do
    [ -s a/$f ] && ok || bad "train wrote no $f"
done
[ "$(ls -a a | grep -c 'tmp\|part')" -eq 0 ] && ok || bad "train left temporary files: $(ls -a a)"
[ "$(wc -l <a/history.csv)" -eq 10 ] && ok || bad "history.csv has $(wc -l <a/history.csv) lines, expected a header and 9 rows"
[ "$(grep -c '{"step": ' a/history.json)" -eq 9 ] && ok || bad "history.json rows"
[ "$(tail -n 1 a/history.csv | cut -d, -f1)" = 400 ] && ok || bad "the last history row is not step 400"
# the last row's objective is the summary's, to the last digit
[ "$(tail -n 1 a/history.csv | cut -d, -f2)" = "$(jget a/summary.json objective)" ] && ok || bad "history objective vs summary"
# the saved state analysed again: ncollapse analyze agrees with the summary's NC1, and streamed
# in chunks of 7 rows it gives the numbers of one chunk
"$NC" analyze --csv a >an.csv 2>err && ok || bad "analyze a run directory: $(cat err)"
close "$(csvget an.csv 1 nc1)" "$(jget a/summary.json nc1)" 1e-10 "analyze vs train NC1"
"$NC" analyze --csv --chunk-rows 7 a >an7.csv 2>err || bad "analyze --chunk-rows 7: $(cat err)"
for m in nc1 nc2_etf_means nc3 nc4 accuracy cdnv h_cos_minor w_spread; do
    close "$(csvget an.csv 1 $m)" "$(csvget an7.csv 1 $m)" 1e-12 "analyze --chunk-rows 7 vs one chunk: $m"
done
# on 3 threads: the same bytes (the stream's values do not depend on the count)
"$NC" analyze --csv --threads 3 --per-class pc3.csv a >an3.csv 2>err || bad "analyze --threads 3: $(cat err)"
"$NC" analyze --csv --per-class pc1.csv a >/dev/null 2>err || bad "analyze --per-class: $(cat err)"
same an.csv an3.csv "analyze --threads 3 against 1 thread"
same pc1.csv pc3.csv "analyze --threads 3 against 1 thread: the per-class values"
expect 2 "--threads: expected an integer in \[1, 1024\], got '0'" "$NC" analyze --threads 0 a
expect 2 "--threads: expected an integer in \[1, 1024\], got '1025'" "$NC" analyze --threads 1025 a
# feature files with --labels, --weights and --bias give the same row as the directory
"$NC" analyze --csv --labels a/labels.npy --weights a/P.npy --bias a/b.npy a/H.npy >an2.csv 2>err || bad "analyze files: $(cat err)"
[ "$(cut -d, -f3- an.csv)" = "$(cut -d, -f3- an2.csv)" ] && ok || bad "analyze: files and directory differ"
# several snapshots: a trajectory, each row equal to its snapshot alone; NC1 falls along it
"$NC" train --quiet --out early $FL --steps 50 --depth 2 --bias && "$NC" analyze --csv early a --out traj.csv --per-class pc.csv 2>err || bad "analyze snapshots: $(cat err)"
[ "$(wc -l <traj.csv)" -eq 3 ] && [ "$(wc -l <pc.csv)" -eq 9 ] && ok || bad "analyze: rows of the trajectory"
[ "$(sed -n 3p traj.csv | cut -d, -f3-)" = "$(sed -n 2p an.csv | cut -d, -f3-)" ] && ok || bad "analyze: a snapshot differs from itself alone"
awk -F, -v c="$(col traj.csv nc1)" 'NR == 2 { a = $c } NR == 3 { exit !($c < a) }' traj.csv && ok || bad "NC1 does not fall along the trajectory"
# per-class: counts and the CDNV's definition on a hand example is in the unit tests; here counts
[ "$(cut -d, -f3 pc.csv | sed -n 2,5p | tr '\n' ' ')" = "60 30 15 15 " ] && ok || bad "per-class counts"
"$NC" analyze --json a | grep -q '"cdnv": [0-9]' && ok || bad "analyze --json cdnv"
"$NC" analyze a | grep -q "cos_minor" && ok || bad "analyze table"

# --- analyze: NumPy and in-memory references, shards, messages --------------------------------------
if $PY -c 'import numpy' >/dev/null 2>&1; then
    mkdir ds && $PY "$REF" make ds || bad "analyze_reference.py make"
    cd ds || exit 1
    CL="--weights W.npy --bias b.npy"
    SH="--shard F0.npy L0.npy --shard F1.npy L1.npy --shard F2.npy L2.npy"
    # streamed in 31 chunks, in one chunk, and from three shards (float32 C order, float64
    # Fortran order, int32 labels): NumPy and nc_metrics_compute_data to 1e-12 relative
    for run in "--chunk-rows 97 --labels L.npy F.npy" "--labels L.npy F.npy" "--chunk-rows 97 $SH" "$SH"; do
        "$NC" analyze --json $CL $run >out.json 2>err || bad "analyze $run: $(cat err)"
        $PY "$REF" check . out.json 1e-12 >log 2>&1 && ok || bad "analyze $run against the references: $(cat log)"
        sed 's/^/    /' log
    done
    # threads: the same bytes on 1 and 3 threads, from shards; and at K = 2100, where the
    # pairwise metrics run in tiles (K > 2048) on the stream's threads, on 1 and 2
    "$NC" analyze --json --chunk-rows 97 --threads 3 $CL $SH >t3.json 2>err || bad "analyze --threads 3 shards: $(cat err)"
    "$NC" analyze --json --chunk-rows 97 $CL $SH >t1.json 2>err || bad "analyze shards: $(cat err)"
    same t1.json t3.json "analyze --threads 3 against 1 thread, three shards"
    # --nc1-path none: nc1 is null, every other value (per class too) the same bytes
    "$NC" analyze --json --chunk-rows 97 --threads 3 --nc1-path none $CL $SH >n3.json 2>err ||
        bad "analyze --nc1-path none: $(cat err)"
    grep -q '"nc1": null' n3.json && ok || bad "analyze --nc1-path none: nc1 is not null: $(head -c 300 n3.json)"
    grep -q '"nc1": [0-9]' t1.json && ok || bad "analyze: no nc1 in $(head -c 300 t1.json)"
    grep -q '"nc1_path": "none"' n3.json && ok || bad "analyze --nc1-path none: the JSON header lacks it"
    sed -e 's/"nc1": [^,]*,//' -e '/"nc1_path"/d' t1.json >t1x.json
    sed -e 's/"nc1": [^,]*,//' -e '/"nc1_path"/d' n3.json >n3x.json
    same t1x.json n3x.json "analyze --nc1-path none against the default, nc1 left out"
    expect 2 "--nc1-path: expected one of auto, none, got 'scatter'" "$NC" analyze --nc1-path scatter $CL $SH
    $PY -c '
import numpy as np
r = np.random.default_rng(7)
K, N, d = 2100, 4200, 8
y = np.arange(N) % K
np.save("FK.npy", (r.standard_normal((K, d))[y] + 0.3 * r.standard_normal((N, d))).astype(np.float32))
np.save("LK.npy", y.astype(np.int64))' || bad "the K = 2100 data"
    "$NC" analyze --json --labels LK.npy FK.npy >k1.json 2>err || bad "analyze K = 2100: $(cat err)"
    "$NC" analyze --json --threads 2 --labels LK.npy FK.npy >k2.json 2>err || bad "analyze K = 2100 --threads 2: $(cat err)"
    same k1.json k2.json "analyze K = 2100 (tiled pairwise metrics): 2 threads against 1"
    grep -q '"nc1_cdnv_mean": [0-9]' k2.json && ok || bad "analyze K = 2100: no CDNV in $(head -c 300 k2.json)"
    # K inferred: a note on success; a failure says so
    "$NC" analyze --labels L.npy F.npy >/dev/null 2>err && grep -q "note: K = 6 was inferred from the largest label (5) of L.npy" err && ok ||
        bad "analyze without K: no note: $(cat err)"
    [ "$(wc -l <err)" -eq 1 ] && ok || bad "the note is not one line: $(cat err)"
    "$NC" analyze $CL --labels L.npy F.npy >/dev/null 2>err && [ ! -s err ] && ok || bad "K from W: unexpected stderr $(cat err)"
    expect 1 "class 3 has no samples; K = 6 was inferred from the largest label (5); pass --classes K" "$NC" analyze --labels Lgap.npy F.npy
    expect 1 "K = 1 class; at least 2 are needed; K = 1 was inferred from the largest label (0); pass --classes K" "$NC" analyze --labels Lzero.npy Fd5.npy
    # a label out of range: the sample's index in the data set (shard 2 starts at sample 2100) and its value
    expect 1 "L2x.npy: .*sample 2117 (row 17 of this file) has label 9, outside \[0, 6) with K = 6 from --classes" \
        "$NC" analyze --classes 6 --shard F0.npy L0.npy --shard F1.npy L1.npy --shard F2.npy L2x.npy
    expect 1 "sample 2117 (row 17 of this file) has label 9, outside \[0, 6) with K = 6 from the rows of W" \
        "$NC" analyze $CL --shard F0.npy L0.npy --shard F1.npy L1.npy --shard F2.npy L2x.npy
    expect 1 "Fd5.npy: .*shard 1 has d = 5, but shard 0 (F0.npy) has d = 12" "$NC" analyze --shard F0.npy L0.npy --shard Fd5.npy Ld5.npy
    expect 1 "Fint.npy: .*holds int32; features must be float32 or float64" "$NC" analyze --labels L.npy Fint.npy
    expect 2 "--shard: expected two files" "$NC" analyze --shard F0.npy
    expect 2 "--shard: expected two files" "$NC" analyze --shard F0.npy --csv L0.npy
    expect 2 "--shard: the shards form one data set" "$NC" analyze --shard F0.npy L0.npy F.npy
    expect 2 "--labels: each --shard pair has its labels" "$NC" analyze --labels L.npy --shard F0.npy L0.npy
    expect 2 "--chunk-rows: expected an integer" "$NC" analyze --chunk-rows 0 --labels L.npy F.npy
    # ncollapse-mpi: one shard per rank, the serial program's bits on the same shards, and the
    # whole file's numbers (bit for bit with one rank; to 1e-12 relative otherwise: the shards'
    # accumulators are merged, not streamed one after the other)
    if [ -x "$NCMPI" ] && command -v mpirun >/dev/null 2>&1; then
        mf="--oversubscribe"
        [ "$(id -u)" = 0 ] && mf="$mf --allow-run-as-root"
        "$NC" analyze --json --chunk-rows 97 $CL --labels L.npy F.npy >whole.json 2>err || bad "analyze whole: $(cat err)"
        for np in 1 2 3; do
            $PY "$REF" split . $np || bad "split $np"
            sh=""
            i=0
            while [ $i -lt $np ]; do sh="$sh --shard Fp${np}_$i.npy Lp${np}_$i.npy"; i=$((i + 1)); done
            "$NC" analyze --json --chunk-rows 97 $CL $sh >s$np.json 2>err || bad "analyze $np shards: $(cat err)"
            OPENBLAS_NUM_THREADS=1 mpirun $mf -np $np "$NCMPI" analyze --json --chunk-rows 97 $CL $sh >m$np.json 2>err ||
                bad "mpirun -np $np ncollapse-mpi analyze: $(head -c 400 err)"
            same s$np.json m$np.json "mpirun -np $np ncollapse-mpi analyze against ncollapse analyze on the same shards"
            tol=1e-12
            [ $np = 1 ] && tol=0
            $PY "$REF" same whole.json m$np.json $tol >log 2>&1 && ok || bad "ncollapse-mpi -np $np against the whole file: $(cat log)"
            echo "    ncollapse-mpi -np $np vs the whole file: $(cat log)"
        done
        # two threads on each of two ranks: the same bytes
        OPENBLAS_NUM_THREADS=1 mpirun $mf -np 2 "$NCMPI" analyze --json --chunk-rows 97 --threads 2 $CL \
            --shard Fp2_0.npy Lp2_0.npy --shard Fp2_1.npy Lp2_1.npy >mt2.json 2>err ||
            bad "mpirun -np 2 ncollapse-mpi analyze --threads 2: $(head -c 400 err)"
        same s2.json mt2.json "mpirun -np 2 ncollapse-mpi analyze --threads 2 against ncollapse analyze"
        # without NC1's scatter: the serial program's bytes
        "$NC" analyze --json --chunk-rows 97 --nc1-path none $CL \
            --shard Fp2_0.npy Lp2_0.npy --shard Fp2_1.npy Lp2_1.npy >sn2.json 2>err || bad "analyze --nc1-path none: $(cat err)"
        OPENBLAS_NUM_THREADS=1 mpirun $mf -np 2 "$NCMPI" analyze --json --chunk-rows 97 --nc1-path none $CL \
            --shard Fp2_0.npy Lp2_0.npy --shard Fp2_1.npy Lp2_1.npy >mn2.json 2>err ||
            bad "mpirun -np 2 ncollapse-mpi analyze --nc1-path none: $(head -c 400 err)"
        same sn2.json mn2.json "mpirun -np 2 ncollapse-mpi analyze --nc1-path none against ncollapse analyze"
        grep -q '"nc1": null' mn2.json && ok || bad "ncollapse-mpi --nc1-path none: nc1 is not null"
        OPENBLAS_NUM_THREADS=1 mpirun $mf -np 2 "$NCMPI" analyze --shard F0.npy L0.npy --shard Fd5.npy Ld5.npy >out 2>err
        st=$?
        [ $st -eq 1 ] && [ "$(grep -c 'shard 1 has d = 5, but shard 0 (F0.npy) has d = 12' err)" -eq 2 ] && ok ||
            bad "ncollapse-mpi: mismatched shards: exit $st, $(head -c 400 err)"
        OPENBLAS_NUM_THREADS=1 mpirun $mf -np 3 "$NCMPI" analyze --shard F0.npy L0.npy --shard F1.npy L1.npy >out 2>err
        st=$?
        [ $st -eq 2 ] && [ "$(grep -c 'under mpirun -np 3, give exactly 3 --shard pairs (one per rank); got 2' err)" -eq 3 ] && ok ||
            bad "ncollapse-mpi: 2 shards on 3 ranks: exit $st, $(head -c 400 err)"
        # a failure on one rank only (its labels): the same status on every rank
        OPENBLAS_NUM_THREADS=1 mpirun $mf -np 3 "$NCMPI" analyze --classes 6 --shard F0.npy L0.npy --shard F1.npy L1.npy --shard F2.npy L2x.npy >out 2>err
        st=$?
        [ $st -eq 1 ] && grep -q "sample 2117 (row 17 of this file) has label 9" err &&
            [ "$(grep -c 'another rank failed' err)" -eq 2 ] && ok || bad "ncollapse-mpi: a failure on rank 2: exit $st, $(head -c 600 err)"
        OPENBLAS_NUM_THREADS=1 mpirun $mf -np 1 "$NCMPI" train --out r >out 2>err
        [ $? -eq 2 ] && grep -q "'train' is serial only" err && ok || bad "ncollapse-mpi train: $(cat err)"
    else
        echo "test_ncollapse: NOTE: ncollapse-mpi or mpirun missing: the MPI analyze checks are skipped"
    fi
    cd .. || exit 1
else
    echo "test_ncollapse: NOTE: $PY lacks numpy: the analyze reference checks are skipped"
fi

# --- predict and --compare ------------------------------------------------------------------------
"$NC" train --quiet --out nb $FL --steps 100 --depth 2 || bad "train without bias"
"$NC" predict --json $FL --depth 2 >p.json 2>err || bad "predict --json: $(cat err)"
if [ -x /usr/bin/python3 ]; then /usr/bin/python3 -c 'import json,sys; d=json.load(open("p.json")); assert len(d["classes"]) == 4' && ok || bad "predict --json is not JSON"; fi
close "$(jget p.json objective)" "$(jget nb/summary.json predicted_objective)" 1e-15 "predict F* vs train's"
"$NC" predict --compare nb >cmp.txt 2>err && grep -q "measured F = " cmp.txt && ok || bad "predict --compare: $(cat err)"
expect 2 "--lambda: the configuration comes from --compare" "$NC" predict --compare nb --lambda 1
expect 1 "no prediction covers depth 2 with a bias" "$NC" predict --compare a
# Hong & Ling's threshold sqrt(n_B)/N and critical count (N lambda)^2 from the closed forms
"$NC" predict --json --scheme step --ka 5 --na 500 --kb 5 --nb 100 --bias --lambda 0.004 >hl.json 2>err || bad "predict hl"
close "$(sed -n 's/.*"n": 100, "threshold": \([^,]*\),.*/\1/p' hl.json | head -n 1)" "$(awk 'BEGIN { printf "%.17g", 10 / 3000 }')" 1e-12 "Hong & Ling threshold"
close "$(jget hl.json critical_count)" 144 1e-12 "Hong & Ling critical count"
grep -q '"n": 100, .*"collapsed": 1' hl.json && ok || bad "minority collapsed above the threshold"

# --- --resume continues bit-identically ------------------------------------------------------------
for opt in "--optimizer gd --momentum 0.9" "--optimizer adam --lr 0.01"; do
    "$NC" train --quiet --out full $FL $opt --steps 300 --depth 2 &&
    "$NC" train --quiet --out part $FL $opt --steps 150 --depth 2 &&
    "$NC" train --quiet --resume part --steps 300 || bad "resume runs ($opt)"
    for f in H.npy W.npy P.npy history.csv history.json summary.json config; do same full/$f part/$f "resume ($opt)"; done
    rm -rf full part
done
# L-BFGS to the limit of the arithmetic (it stops with no progress before step 300): the resumed
# run stops at the same step, since the checkpoint carries its no-progress counter
"$NC" train --quiet --out full $FL --optimizer lbfgs --tol 0 --steps 300 &&
"$NC" train --quiet --out part $FL --optimizer lbfgs --tol 0 --steps 150 &&
"$NC" train --quiet --resume part --steps 300 || bad "resume runs (lbfgs)"
grep -q '"stop": "NC_STOP_NO_PROGRESS"' full/summary.json && ok || bad "L-BFGS did not reach the limit of the arithmetic"
for f in H.npy W.npy history.csv history.json summary.json config; do same full/$f part/$f "resume (lbfgs)"; done
rm -rf full part
# --checkpoint-every: a run killed (SIGKILL) after its first mid-run checkpoint resumes to the
# uninterrupted run's files; the killed run left config, history and checkpoint, nothing partial
CK="$FL --steps 400000 --record-every 10000"
"$NC" train --quiet --out full $CK || bad "the uninterrupted run"
"$NC" train --quiet --out part $CK --checkpoint-every 20000 &
pid=$!
n=0
while [ ! -e part/checkpoint ] && [ $n -lt 2000 ]; do sleep 0.01; n=$((n + 1)); done
kill -KILL $pid
{ wait $pid; } 2>/dev/null
[ $? -ne 0 ] && [ -e part/checkpoint ] && [ ! -e part/summary.json ] && ok || bad "the run was not killed mid-way (make the run longer)"
[ -s part/config ] && [ -s part/history.csv ] && [ -s part/history.json ] && ok || bad "a mid-run save lacks config or history"
"$NC" train --quiet --resume part --steps 400000 2>err || bad "resume a killed run: $(cat err)"
for f in H.npy W.npy history.csv history.json summary.json config; do same full/$f part/$f "resume a killed run"; done
[ "$(ls -a part | grep -c 'tmp\|part')" -eq 0 ] && ok || bad "temporary files after the resume: $(ls -a part)"
rm -rf full part
expect 2 "--checkpoint-every: 75 is not a multiple of the recording interval 50" "$NC" train --out x $FL --steps 400 --checkpoint-every 75
expect 2 "--lambda: cannot change on --resume" "$NC" train --resume a --steps 500 --lambda 1
expect 2 "--steps: the checkpoint in a is at step 400" "$NC" train --resume a --steps 300

# --- sweep: -j 2 equals -j 1; an interrupted sweep resumes to the same file -----------------------------
SW="--grid lambda=0.002:0.007:4 --grid ka=5,3 --scheme step --na 50 --kb 3 --nb 10 --bias --wh-ratio 10 --dim 10 --optimizer lbfgs --steps 3000 --tol 1e-9 --init-std 0.5"
"$NC" sweep --quiet --out s1 -j 1 $SW 2>err || bad "sweep -j 1: $(cat err)"
"$NC" sweep --quiet --out s2 -j 2 $SW 2>err || bad "sweep -j 2: $(cat err)"
same s1/sweep.csv s2/sweep.csv "sweep -j 2 against -j 1"
[ "$(wc -l <s1/sweep.csv)" -eq 9 ] && ok || bad "sweep rows"
[ "$(awk -F, -v v="$(col s1/sweep.csv verdict)" 'NR > 1 && $v == "optimum"' s1/sweep.csv | wc -l)" -eq 8 ] && ok || bad "sweep verdicts: $(cut -d, -f16 s1/sweep.csv | tr '\n' ' ')"
# a row's prediction equals `predict` for the same point
"$NC" predict --json --scheme step --ka 3 --na 50 --kb 3 --nb 10 --bias --wh-ratio 10 --dim 10 --lambda 0.002 >pt.json
close "$(csvget s1/sweep.csv 2 predicted_objective)" "$(jget pt.json objective)" 1e-15 "sweep row vs predict"
"$NC" sweep --quiet --out s3 -j 2 $SW --steps 3000 --no-train 2>err && [ "$(csvget s3/sweep.csv 1 verdict)" = predicted ] && ok || bad "sweep --no-train"
expect 2 "holds a sweep of another configuration" "$NC" sweep --out s1 $SW --dim 11
# interrupt a slower sweep (first-order runs) after a few points, then resume
SL="--grid lambda=0.001:0.01:12 --counts 40,40,10,10 --dim 8 --steps 40000 --lr 0.05"
"$NC" sweep --quiet --out full -j 2 $SL 2>err || bad "sweep full: $(cat err)"
"$NC" sweep --quiet --out cut -j 2 $SL 2>/dev/null &
pid=$!
n=0
while [ "$(ls cut/points 2>/dev/null | grep -c '^0.*csv$')" -lt 3 ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done
kill -TERM $pid
wait $pid
st=$?
[ "$st" -ne 0 ] && ok || bad "an interrupted sweep exited 0"
[ ! -e cut/sweep.csv ] && ok || bad "an interrupted sweep wrote sweep.csv"
[ -z "$(find cut -name '*.tmp.*')" ] && ok || bad "an interrupted sweep left temporary files: $(find cut -name '*.tmp.*')"
done_pts=$(ls cut/points | wc -l)
[ "$done_pts" -ge 3 ] && [ "$done_pts" -lt 12 ] && ok || bad "the interruption came after $done_pts of 12 points"
for p in cut/points/*.csv; do
    [ "$(tail -c 1 "$p" | od -An -c | tr -d ' ')" = '\n' ] && [ "$(awk -F, '{ print NF }' "$p")" = "$(head -n 1 full/sweep.csv | awk -F, '{ print NF }')" ] || { bad "partial row $p"; break; }
done
ok
"$NC" sweep --quiet --out cut -j 1 $SL 2>err || bad "resumed sweep: $(cat err)"
same full/sweep.csv cut/sweep.csv "an interrupted and resumed sweep against an uninterrupted one"

# --- install and uninstall --------------------------------------------------------------------------
stage=$tmp/stage
( cd "$ROOT" && $MAKE_CMD --no-print-directory install DESTDIR="$stage" PREFIX=/usr/local >"$tmp/inst" 2>&1 ) &&
    [ -x "$stage/usr/local/bin/ncollapse" ] && "$stage/usr/local/bin/ncollapse" version >/dev/null && ok || bad "install: $(tail -n 5 "$tmp/inst")"
if [ -x "$NCMPI" ]; then [ -x "$stage/usr/local/bin/ncollapse-mpi" ] && ok || bad "install: no ncollapse-mpi beside ncollapse"; fi
( cd "$ROOT" && $MAKE_CMD --no-print-directory uninstall DESTDIR="$stage" PREFIX=/usr/local >"$tmp/inst" 2>&1 ) &&
    [ -z "$(find "$stage" -type f)" ] && ok || bad "uninstall left $(find "$stage" -type f)"

echo "test_ncollapse: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
