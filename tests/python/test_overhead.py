"""The cost of the package: metrics through it against the C API called
directly (tests/python/reference.c bench), at N = 1000, d = 32, K = 10."""
import time

import numpy as np

import ncollapse as nc
from conftest import clusters, note

TARGET = 1.2


def test_metrics_overhead(reference, tmp_path):
    H, y, W, b = clusters(N=1000, d=32, K=10, seed=11, imbalance=False, spread=2.0)
    assert H.shape == (1000, 32)
    for n, a in (("H", H), ("y", y), ("W", W), ("b", b.reshape(-1, 1))):
        np.save(tmp_path / ("%s.npy" % n), a)
    args = dict(H=tmp_path / "H.npy", labels=tmp_path / "y.npy", W=tmp_path / "W.npy",
                b=tmp_path / "b.npy", calls=100, batches=3)
    m = nc.Metrics()

    def python_call():
        return m.compute_data(H, y, W, b).to_dict()

    def python_function():
        return nc.metrics(H, y, W, b)

    def best(fn, calls=100, batches=3):
        t = np.inf
        for _ in range(batches):
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            t = min(t, (time.perf_counter() - t0) / calls)
        return t

    # interleaved rounds, the best of each side: the machine is shared
    c_t, py_t, fn_t = np.inf, np.inf, np.inf
    for _ in range(4):
        c_t = min(c_t, float(reference("bench", **args)))
        py_t = min(py_t, best(python_call))
        fn_t = min(fn_t, best(python_function))
    ratio, ratio_fn = py_t / c_t, fn_t / c_t
    note("metrics at N = 1000, d = 32, K = 10: C API %.1f us, Metrics.compute_data + to_dict "
         "%.1f us (%.3fx), ncollapse.metrics() %.1f us (%.3fx); target < %.1fx"
         % (c_t * 1e6, py_t * 1e6, ratio, fn_t * 1e6, ratio_fn, TARGET))
    assert ratio < TARGET and ratio_fn < TARGET
