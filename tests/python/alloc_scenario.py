"""Every allocation of the library failed in turn, through the package.

Run by test_alloc_failures.py in a process of its own, with
NCOLLAPSE_LIBRARY naming the test-only library lib/alloc-test/libncollapse.so.0
(the library's objects with malloc, calloc and realloc wrapped; see
tests/alloc_wrap.c), whose nc_test_fail_alloc(k) makes the k-th allocation
fail. A scenario of package calls (a model and its copy, an optimizer run
with a recorder, the escape and the check, metrics, checkpoints, .npy files,
a stream, a prediction) is run once counting the allocations, then once per
allocation k with the k-th failing. Each call must then either raise an
ncollapse.Error whose message carries the library's own (the handle's
last error, or nc_create_last_error for a create), after which the same
call retried without failures must succeed on the same objects; or succeed
(the failure absorbed), which only the saves may do. Prints one JSON line
with the counts and the first bad outcomes; a crash ends the process (the
test sees its exit status and the last allocation tried on stderr).
Usage: python3 alloc_scenario.py WORKDIR [QUICK_STRIDE]
"""
import ctypes
import json
import os
import sys

import numpy as np

import ncollapse as nc
from ncollapse import _lib

LIB = _lib.lib
LIB.nc_test_fail_alloc.argtypes = [ctypes.c_long]
LIB.nc_test_fail_alloc.restype = None
LIB.nc_test_alloc_count.argtypes = []
LIB.nc_test_alloc_count.restype = ctypes.c_long
LIB.nc_test_alloc_failed.argtypes = []
LIB.nc_test_alloc_failed.restype = ctypes.c_int


def create_message():
    return _lib.text(_lib.nc_create_last_error())


def scenario(work):
    """The calls, as (name, call, sources of the library's message, may absorb).
    Each call stores what it makes in s; a source is a callable returning a
    message the library recorded."""
    rng = np.random.default_rng(3)
    d, K, N = 4, 3, 12
    y = np.array([0, 1, 2, 0, 1, 2, 0, 0, 1, 0, 0, 2], dtype=np.int32)
    H = rng.standard_normal((N, d))
    W = rng.standard_normal((K, d))
    b = rng.standard_normal(K)
    s = {}

    def msg(name):
        return lambda: s[name].last_error if name in s else ""

    def put(name, value):
        s[name] = value

    def model():
        m = nc.Model(d, labels=y)
        put("m", m)

    def deep():
        s["m"].bias = True
        s["m"].depth = 2

    def init():
        s["m"].init_gaussian(0.3, 1)

    def copy():
        put("mc", s["m"].copy())

    def optimizer():
        put("o", nc.Optimizer(s["m"], "lbfgs", max_iterations=4))

    def recorder():
        put("h", s["o"].record(every=1))

    def escape():
        s["o"].set_escape(1)
        s["o"].set_check(True)
        s["o"].set_gradient_tolerance(1e-1)

    def run():
        s["o"].run()

    def history_csv():
        s["h"].save_csv(os.path.join(work, "h.csv"))

    def checkpoint_save():
        nc.save_checkpoint(os.path.join(work, "m.ckpt"), s["m"], s["o"])

    def checkpoint_load():
        nc.load_checkpoint(os.path.join(work, "m.ckpt"), s["mc"])

    def metrics():
        put("met", nc.Metrics())

    def metrics_model():
        s["met"].compute(s["m"])

    def metrics_layer():
        s["met"].compute_layer(s["m"], 1)

    def metrics_data():
        s["met"].compute_data(H, y, W, b)

    def npy_writer():
        put("w", nc.NpyWriter())

    def npy_write():
        w = s["w"]
        w.begin(os.path.join(work, "x.npy"), np.float64, H.shape)
        w.write_rows(H)
        w.finish()

    def npy_reader():
        put("r", nc.NpyReader())

    def npy_read():
        r = s["r"]
        r.open(os.path.join(work, "x.npy"))
        r.read_rows(0, N)

    def stream():
        put("st", nc.Stream(d, K))

    def stream_fill():
        s["st"].set_classifier(W, b)
        s["st"].add(H, y)
        s["st"].next_pass()
        s["st"].add(H, y)

    def stream_copy():
        put("st2", s["st"].copy())

    def stream_save():
        s["st"].save(os.path.join(work, "s.stream"))

    def stream_load():
        s["st2"].load(os.path.join(work, "s.stream"))

    def stream_metrics():
        s["met"].compute_stream(s["st2"])

    def plain():
        put("p1", nc.Model(d, labels=y, weight_decay=(5e-3, 5e-3, 0.0), init_std=0.3, seed=2))

    def prediction():
        put("pr", nc.Prediction.from_model(s["p1"]))

    def compare():
        s["pr"].compare(s["p1"])

    create = [create_message]
    return s, [
        ("Model", model, create, False),
        ("Model.bias, depth", deep, [msg("m")], False),
        ("Model.init_gaussian", init, [msg("m")], False),
        ("Model.copy", copy, create, False),
        ("Optimizer", optimizer, create + [msg("o"), msg("m")], False),
        ("Optimizer.record", recorder, create + [msg("o")], False),
        ("Optimizer escape and check", escape, [msg("o")], False),
        ("Optimizer.run", run, [msg("o")], False),
        ("History.save_csv", history_csv, [msg("h")], True),
        ("save_checkpoint", checkpoint_save, [msg("m")], True),
        ("load_checkpoint", checkpoint_load, [msg("mc")], False),
        ("Metrics", metrics, create, False),
        ("Metrics.compute", metrics_model, [msg("met")], False),
        ("Metrics.compute_layer", metrics_layer, [msg("met")], False),
        ("Metrics.compute_data", metrics_data, [msg("met")], False),
        ("NpyWriter", npy_writer, create, False),
        ("NpyWriter.begin, write_rows, finish", npy_write, [msg("w")], True),
        ("NpyReader", npy_reader, create, False),
        ("NpyReader.open, read_rows", npy_read, [msg("r")], False),
        ("Stream", stream, create, False),
        ("Stream.set_classifier, add", stream_fill, [msg("st")], False),
        ("Stream.copy", stream_copy, create, False),
        ("Stream.save", stream_save, [msg("st")], True),
        ("Stream.load", stream_load, [msg("st2")], False),
        ("Metrics.compute_stream", stream_metrics, [msg("met")], False),
        ("Model (plain)", plain, create + [msg("p1")], False),
        ("Prediction.from_model", prediction, [msg("p1")], False),
        ("Prediction.compare", compare, [msg("pr")], False),
    ]


def main():
    work = sys.argv[1]
    stride = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    out = {"points": 0, "refused": 0, "absorbed": 0, "bad": 0, "first_bad": [],
           "by_exception": {}, "absorbed_by": {}}

    def bad(k, what):
        out["bad"] += 1
        if len(out["first_bad"]) < 5:
            out["first_bad"].append("allocation %d: %s" % (k, what))

    # The allocations of each call, counted twice (they must not vary: the
    # k-th allocation of the whole scenario is then the same at every run);
    # nc_test_fail_alloc restarts the count, so k is failed as an index
    # within the call that holds it.
    runs = []
    for _ in range(2):
        counts = []
        s, calls = scenario(work)
        for name, call, sources, may_absorb in calls:
            LIB.nc_test_fail_alloc(0)
            call()
            counts.append(LIB.nc_test_alloc_count())
        LIB.nc_test_fail_alloc(-1)
        for v in s.values():
            v.close()
        runs.append(counts)
    counts = runs[0]
    total = sum(counts)
    if runs[0] != runs[1]:
        bad(0, "the scenario's allocations vary between runs (%r, %r)" % tuple(runs))
    out["points"] = total
    out["per_call"] = dict((c[0], n) for c, n in zip(calls, counts))
    del s, calls
    for k in range(1, total + 1, stride):
        sys.stderr.write("allocation %d\n" % k)
        sys.stderr.flush()
        run_once_at(k, counts, bad, out)
    print(json.dumps(out))


def run_once_at(k, counts, bad, out):
    """The scenario with the k-th allocation of the whole scenario failing:
    the call holding it fails its local index, the others none."""
    work = sys.argv[1]
    s, calls = scenario(work)
    before = 0
    for i, (name, call, sources, may_absorb) in enumerate(calls):
        local = k - before if before < k <= before + counts[i] else -1
        before += counts[i]
        LIB.nc_test_fail_alloc(local)
        try:
            call()
        except nc.Error as e:
            failed = LIB.nc_test_alloc_failed()
            LIB.nc_test_fail_alloc(-1)
            messages = [m() for m in sources]
            if not failed:
                bad(k, "%s raised %r without an injected failure" % (name, e))
            elif not e.detail or e.detail not in messages:
                bad(k, "%s raised %s with detail %r, not the library's message (one of %r)"
                    % (name, type(e).__name__, e.detail, messages))
            else:
                out["refused"] += 1
                key = type(e).__name__
                out["by_exception"][key] = out["by_exception"].get(key, 0) + 1
            try:
                call()
            except Exception as e2:  # the retry must succeed, on the same objects
                bad(k, "%s: the retry raised %r" % (name, e2))
                break
            continue
        except Exception as e:  # anything but the package's exceptions
            LIB.nc_test_fail_alloc(-1)
            bad(k, "%s raised %s: %s" % (name, type(e).__name__, e))
            break
        failed = LIB.nc_test_alloc_failed()
        LIB.nc_test_fail_alloc(-1)
        if failed:
            if may_absorb:
                out["absorbed"] += 1
                out["absorbed_by"][name] = out["absorbed_by"].get(name, 0) + 1
            else:
                bad(k, "%s succeeded although an allocation failed (absorbed)" % name)
        elif local > 0:
            bad(k, "%s: allocation %d of the call was not reached" % (name, local))
    for v in s.values():
        v.close()


if __name__ == "__main__":
    main()
