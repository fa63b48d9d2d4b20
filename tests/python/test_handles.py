"""Handles: context managers, close(), garbage collection, no leaks over 10^4
create/destroy cycles (RSS), __repr__, threads and the GIL."""
import gc
import os
import threading
import time

import numpy as np
import pytest

import ncollapse as nc
from conftest import clusters, note, same_bits

CYCLES = 10000


def rss_kib():
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def one_cycle(H, y, W, b, explicit):
    m = nc.Model(8, counts=[20, 10, 5], weight_decay=(1e-3, 1e-3), init_std=0.1, depth=2,
                 loss="mse")
    o = nc.Optimizer(m, "adam", max_iterations=2)
    h = o.record(1)
    o.run()
    p = nc.Prediction.from_model(m)
    c = nc.Curvature(m, max_steps=3)
    mt = nc.Metrics().compute_data(H, y, W, b)
    s = nc.Stream(H.shape[1], 3, W, b).add(H, y)
    s2 = s.copy().merge(s)
    objs = (c, o, h, p, mt, s, s2, m)
    if explicit:
        for x in objs:
            x.close()
    return [x._finalizer for x in objs]


@pytest.mark.parametrize("explicit", [True, False], ids=["close", "gc"])
def test_no_leak_over_many_cycles(explicit):
    if not os.path.exists("/proc/self/statm"):
        pytest.skip("no /proc/self/statm to measure RSS")
    H, y, W, b = clusters(N=60, d=8, K=3, seed=1)
    for _ in range(500):                       # warm up allocators and caches
        one_cycle(H, y, W, b, explicit)
    gc.collect()
    before = rss_kib()
    t0 = time.perf_counter()
    fins = []
    for i in range(CYCLES):
        f = one_cycle(H, y, W, b, explicit)
        if i % 1000 == 0:
            fins.extend(f)
    gc.collect()
    after = rss_kib()
    secs = time.perf_counter() - t0
    assert not any(f.alive for f in fins)      # every handle was destroyed
    growth = after - before
    note("handles (%s): %d cycles of 8 handles each (model, optimizer, history, prediction, "
         "curvature, metrics, 2 streams) in %.1f s, RSS %d KiB -> %d KiB (%+d KiB)"
         % ("close()" if explicit else "garbage collection", CYCLES, secs, before, after,
            growth))
    # one leaked model alone is > 5 KiB: 10^4 of them would be > 50 MiB
    assert growth < 4096


def test_context_managers_and_repr(tmp_path):
    with nc.Model(4, counts=[3, 2], bias=True, loss="mse") as m:
        r = repr(m)
        assert "d=4 K=2 N=5" in r and "loss=mse" in r and "bias=on" in r
        with nc.Optimizer(m, "nesterov") as o:
            assert "nesterov" in repr(o)
        assert o.closed and not m.closed
    assert m.closed
    with nc.Stream(3, 2) as s:
        assert repr(s) == "<ncollapse.Stream d=3 K=2 pass=1 samples=0>"
    p = nc.Prediction("balanced_ce", [5, 5], weight_decay=(1e-2, 1e-2))
    assert "balanced_ce K=2" in repr(p)
    p.compute()
    assert "objective=" in repr(p)
    with nc.NpyWriter() as w:
        w.begin(tmp_path / "a.npy", np.float64, (2, 2)).write_rows(np.eye(2))
        w.finish()
    with nc.NpyReader(tmp_path / "a.npy") as r:
        assert repr(r) == "<ncollapse.NpyReader float64 (2, 2)>"
    assert "Metrics global_mean=sample" in repr(nc.Metrics())


def test_writer_leaves_nothing_on_exception(tmp_path):
    with pytest.raises(RuntimeError):
        with nc.NpyWriter() as w:
            w.begin(tmp_path / "b.npy", np.float32, (4, 2)).write_rows(np.ones((2, 2)))
            raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []


def test_gil_released_during_calls():
    m = nc.Model(32, counts=[4000] * 5, weight_decay=(5e-4, 5e-4), init_std=0.1)
    o = nc.Optimizer(m, "gd", max_iterations=10 ** 6)
    spans = {}

    # The length of a step, measured here before the other thread starts:
    # timed inside it, a short run also counts the wait for the GIL the main
    # loop holds (up to the 5 ms switch interval), and a step measured alone
    # counts the first run's setup; either made the run below far shorter.
    n = 1
    while True:
        o.set_max_iterations(n)
        t0 = time.perf_counter()
        o.run()
        took = time.perf_counter() - t0
        if took >= 0.05:
            break
        n *= 2
    o.set_max_iterations(max(2, int(n * 0.3 / took)))

    def work():
        spans["start"] = time.perf_counter()
        o.run()                                      # one C call of about 0.3 s
        spans["end"] = time.perf_counter()

    t = threading.Thread(target=work)
    ticks = []
    t.start()
    while t.is_alive():
        ticks.append(time.perf_counter())
    t.join()
    inside = sum(spans["start"] < x < spans["end"] for x in ticks)
    note("GIL: the main thread ran %d loop iterations during a %.2f s optimizer run in another "
         "thread" % (inside, spans["end"] - spans["start"]))
    assert spans["end"] - spans["start"] > 0.05
    assert inside > 1000


def test_handles_in_parallel_threads_match_sequential():
    def run(seed, out):
        m = nc.Model(16, counts=[300, 200, 100], weight_decay=(5e-4, 5e-4), init_std=0.1,
                     seed=seed)
        o = nc.Optimizer(m, "gd", momentum=0.9, max_iterations=200)
        o.run()
        out[seed] = (m.W, m.H, m.metrics()["nc1"])

    seq, par = {}, {}
    for s in (1, 2, 3):
        run(s, seq)
    ts = [threading.Thread(target=run, args=(s, par)) for s in (1, 2, 3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for s in (1, 2, 3):
        assert all(same_bits(a, b) for a, b in zip(seq[s], par[s]))


def test_model_threads_bit_identical_per_count():
    def run(threads):
        m = nc.Model(16, counts=[3000, 2000, 1000], weight_decay=(5e-4, 5e-4), init_std=0.1,
                     threads=threads)
        assert m.threads == threads
        nc.Optimizer(m, "gd", momentum=0.9, max_iterations=20).run()
        return m.H
    a, b = run(2), run(2)
    assert same_bits(a, b)
    assert np.allclose(run(1), a, rtol=1e-10, atol=1e-14)
