#!/bin/sh
# test_ncollapse.sh - the ncollapse program in short runs: --help on every
# command, a table of bad invocations (message and exit status), outputs
# parsed back and checked against independent routes (nc_analyze, the
# summary, the prediction), --resume bit-identical (also L-BFGS, and from
# the mid-run checkpoint of a killed run), sweep -j 2 equal to
# -j 1, an interrupted sweep that leaves no partial file and resumes to the
# same result, install and uninstall. Ends with "test_ncollapse: N passed,
# M failed" (tests/run_checks.sh counts it).
# Usage: sh tests/test_ncollapse.sh [make command]
MAKE_CMD=${1:-make}
NC=$(pwd)/tools/bin/ncollapse
AN=$(pwd)/tools/bin/nc_analyze
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
# the saved state analysed again: nc_analyze (streamed) and ncollapse analyze agree with the summary's NC1
"$NC" analyze --csv a >an.csv 2>err && ok || bad "analyze a run directory: $(cat err)"
close "$(csvget an.csv 1 nc1)" "$(jget a/summary.json nc1)" 1e-10 "analyze vs train NC1"
"$AN" --json a/H.npy a/labels.npy a/P.npy a/b.npy >nca.json 2>err || bad "nc_analyze: $(cat err)"
for m in nc1 nc2_etf_means nc3 nc4 accuracy; do
    v=$(sed -n "s/.*\"$m\": *\([-0-9.eE+]*\).*/\1/p" nca.json | head -n 1)
    close "$(csvget an.csv 1 $m)" "$v" 1e-10 "analyze vs nc_analyze $m"
done
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
( cd "$OLDPWD" && $MAKE_CMD --no-print-directory install DESTDIR="$stage" PREFIX=/usr/local >"$tmp/inst" 2>&1 ) &&
    [ -x "$stage/usr/local/bin/ncollapse" ] && "$stage/usr/local/bin/ncollapse" version >/dev/null && ok || bad "install: $(tail -n 5 "$tmp/inst")"
( cd "$OLDPWD" && $MAKE_CMD --no-print-directory uninstall DESTDIR="$stage" PREFIX=/usr/local >"$tmp/inst" 2>&1 ) &&
    [ -z "$(find "$stage" -type f)" ] && ok || bad "uninstall left $(find "$stage" -type f)"

echo "test_ncollapse: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
