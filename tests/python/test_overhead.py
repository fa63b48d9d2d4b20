"""The cost of the package: metrics through it against the C API called
directly, at N = 1000, d = 32, K = 10.

The machine running the tests may be shared, so the ratio that is checked
compares calls interleaved one by one in the same process: the package's
``Metrics.compute_data(...).to_dict()`` and ``metrics()`` against
``nc_metrics_compute_data`` and the 13 ``nc_metrics_get`` calls made
straight through the declared prototypes, on the same arrays (medians of
the per-call times). The C program of tests/python/reference.c (bench) is
timed too and reported, not checked: its ratio includes whatever else the
machine was doing between the two processes."""
import ctypes
import time

import numpy as np

import ncollapse as nc
from ncollapse import _lib
from conftest import clusters, note

TARGET = 1.2
CALLS = 300


def test_metrics_overhead(reference, tmp_path):
    H, y, W, b = clusters(N=1000, d=32, K=10, seed=11, imbalance=False, spread=2.0)
    assert H.shape == (1000, 32) and H.flags.c_contiguous and y.dtype == np.int32
    m = nc.Metrics()

    raw = nc.Metrics()   # a second handle driven through the C API directly
    p = raw._p
    v = ctypes.c_double()
    ref = ctypes.byref(v)
    args = (p, 32, 10, 1000, H.ctypes.data, 32, y.ctypes.data, W.ctypes.data, 32, b.ctypes.data)
    compute, get = _lib.nc_metrics_compute_data, _lib.nc_metrics_get

    def c_api():
        assert compute(*args) == 0
        for k in range(13):
            get(p, k, ref)

    def package():
        return m.compute_data(H, y, W, b).to_dict()

    def function():
        return nc.metrics(H, y, W, b)

    for f in (c_api, package, function):   # workspaces allocated, caches warm
        f()
    t = {c_api: [], package: [], function: []}
    clock = time.perf_counter
    for _ in range(CALLS):
        for f in (c_api, package, function):
            t0 = clock()
            f()
            t[f].append(clock() - t0)
    med = {f: float(np.median(x)) for f, x in t.items()}
    ratio, ratio_fn = med[package] / med[c_api], med[function] / med[c_api]
    assert package() == function()

    for n, a in (("H", H), ("y", y), ("W", W), ("b", b.reshape(-1, 1))):
        np.save(tmp_path / ("%s.npy" % n), a)
    c_prog = float(reference("bench", H=tmp_path / "H.npy", labels=tmp_path / "y.npy",
                             W=tmp_path / "W.npy", b=tmp_path / "b.npy", calls=CALLS, batches=3))
    note("metrics at N = 1000, d = 32, K = 10 (medians of %d interleaved calls): C API %.1f us, "
         "Metrics.compute_data + to_dict %.1f us (%.3fx), ncollapse.metrics() %.1f us (%.3fx); "
         "target < %.1fx. The C program alone: %.1f us (package / program %.2fx)"
         % (CALLS, med[c_api] * 1e6, med[package] * 1e6, ratio, med[function] * 1e6, ratio_fn,
            TARGET, c_prog * 1e6, med[package] / c_prog))
    assert ratio < TARGET and ratio_fn < TARGET
