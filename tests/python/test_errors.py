"""Every bad input raises an ncollapse.Error subclass with the status name and
the library's message; nothing crashes. Stop reasons are values."""
import gc
import os

import numpy as np
import pytest

import ncollapse as nc
from conftest import clusters


@pytest.fixture
def data():
    return clusters(N=90, d=6, K=3, seed=2)


def test_status_values_and_names():
    for s in nc.Status:
        assert nc.status_name(s) == s.c_name
    e = nc.InvalidValue(-7, "detail")
    assert e.name == "NC_ERR_INVALID_VALUE" and "detail" in str(e)
    assert isinstance(e, nc.InputError) and isinstance(e, ValueError)
    assert issubclass(nc.FormatError, nc.FileError) and issubclass(nc.FileError, OSError)
    assert issubclass(nc.Diverged, nc.NumericalError)
    assert issubclass(nc.OutOfMemory, MemoryError)


@pytest.mark.parametrize("bad,kind,text", [
    (lambda H: H.astype(np.int64), nc.InvalidValue, "dtype int64"),
    (lambda H: H.astype(np.complex128), nc.InvalidValue, "dtype complex128"),
    (lambda H: H.astype(bool), nc.InvalidValue, "dtype bool"),
    (lambda H: H.reshape(-1), nc.SizeMismatch, "2-D"),
    (lambda H: H[:, :, None], nc.SizeMismatch, "2-D"),
    (lambda H: H.T.copy(), nc.SizeMismatch, "transposed"),
    (lambda H: H[:0], nc.InvalidSize, "no rows"),
])
def test_bad_features(data, bad, kind, text):
    H, y, W, b = data
    with pytest.raises(kind) as e:
        nc.metrics(bad(H), y, W, b)
    assert text in str(e.value)
    assert str(e.value).startswith(e.value.name + ": ")


@pytest.mark.parametrize("bad,text", [
    (lambda H: H.astype(np.float32), "dtype float32, not float64"),
    (lambda H: np.asfortranarray(H), "Fortran order"),
    (lambda H: H[::2], None),
    (lambda H: H[:, ::2], "not contiguous"),
])
def test_copy_false_refuses_conversions(data, bad, text):
    H, y, W, b = data
    Hb = bad(H)
    yb = y[: Hb.shape[0]]
    if Hb.shape[1] != W.shape[1]:
        W = W[:, : Hb.shape[1]].copy()
    if text is None:  # every other row: a stride of 2 d, which the library takes as it is
        assert nc.metrics(Hb, yb, copy=False) == nc.metrics(Hb.copy(), yb)
        return
    with pytest.raises(nc.InvalidValue) as e:
        nc.metrics(Hb, yb, W, b, copy=False)
    assert text in str(e.value) and "copy=False" in str(e.value)
    nc.metrics(Hb, yb, W, b)  # converted once by default


def test_swapped_classifier(data):
    H, y, W, b = data
    H8 = np.hstack([H, np.ones((90, 2))])          # d = 8, K = 3
    with pytest.raises(nc.SizeMismatch, match="W has shape"):
        nc.metrics(H8, y, np.ones((8, 3)), b)      # (d, K) instead of (K, d)
    with pytest.raises(nc.SizeMismatch, match="b has shape"):
        nc.metrics(H, y, W, np.ones(4))
    with pytest.raises(nc.SizeMismatch, match="K = 5 but W has 3 rows"):
        nc.metrics(H, y, W, b, K=5)
    with pytest.raises(nc.SizeMismatch, match="labels has 89 entries"):
        nc.metrics(H, y[:-1], W, b)


# the library's messages say where: flat index 2 of H (N, d) is row 2 of
# sample 0; of W (K, d), row 2 of class 0; of b, b[2]
@pytest.mark.parametrize("where,text", [("H", "H has a NaN or Inf at row 2 of column (sample) 0"),
                                        ("W", "W has a NaN or Inf at row 2 of column (class) 0"),
                                        ("b", "b[2] is NaN or Inf")])
def test_non_finite(data, where, text):
    H, y, W, b = [a.copy() for a in data]
    {"H": H, "W": W, "b": b}[where].flat[2] = np.nan
    m = nc.Metrics()
    with pytest.raises(nc.NonFinite) as e:
        m.compute_data(H, y, W, b)
    assert e.value.name == "NC_ERR_NON_FINITE"
    assert e.value.detail == m.last_error == text   # the library's own message
    assert str(e.value) == "NC_ERR_NON_FINITE: " + text
    with pytest.raises(nc.NonFinite):
        nc.Model(6, labels=y).H = np.full((90, 6), np.inf)


def test_labels(data):
    H, y, W, b = data
    bad = y.copy()
    bad[5] = 3
    m = nc.Metrics()
    with pytest.raises(nc.LabelOutOfRange) as e:
        m.compute_data(H, bad, W, b)
    assert e.value.detail == m.last_error and "3" in e.value.detail
    bad[5] = -1
    with pytest.raises(nc.LabelOutOfRange):
        nc.metrics(H, bad, W, b)
    with pytest.raises(nc.LabelOutOfRange, match="outside"):
        nc.metrics(H, y.astype(np.int64) + 2**40, W, b)
    with pytest.raises(nc.InvalidValue, match="integer class labels"):
        nc.metrics(H, y.astype(np.float64), W, b)
    with pytest.raises(nc.EmptyClass) as e:
        nc.metrics(H, np.where(y == 1, 0, y).astype(np.int32), W, b)
    assert "class 1 has no samples" in str(e.value)
    with pytest.raises(nc.EmptyClass):
        nc.Model(4, labels=[0, 0, 2, 2])
    with pytest.raises(nc.EmptyClass):
        nc.Model(4, counts=[3, 0, 2])


def test_model_setters_keep_the_library_message():
    m = nc.Model(4, counts=[3, 3])
    with pytest.raises(nc.InvalidValue) as e:
        m.weight_decay = (-1, 0, 0)
    assert e.value.detail == m.last_error and e.value.detail
    with pytest.raises(nc.InvalidValue):
        m.depth = 0
    with pytest.raises(ValueError, match="unknown Loss"):
        m.loss = "hinge"
    with pytest.raises(nc.InvalidValue):
        m.threads = 0
    with pytest.raises(nc.Unsupported):
        m.fix_classifier("etf")
        m.W = np.zeros((2, 4))
    with pytest.raises(nc.SizeMismatch, match="transposed"):
        m.H = np.zeros((4, 6))


def test_closed_handles(data):
    H, y, W, b = data
    m = nc.Model(6, labels=y)
    o = nc.Optimizer(m)
    m.close()
    m.close()
    assert m.closed and o.closed          # the optimizer borrowed the model
    for call in (lambda: m.W, lambda: m.objective(), lambda: o.step(), lambda: nc.Metrics().compute(m)):
        with pytest.raises(nc.NullArgument, match="closed"):
            call()
    assert "closed" in repr(m) and "closed" in repr(o)
    s = nc.Stream(6, 3)
    s.close()
    with pytest.raises(nc.NullArgument):
        s.add(H, y)
    with nc.Metrics() as mt:
        pass
    with pytest.raises(nc.NullArgument):
        mt.compute_data(H, y)


def test_stop_reasons_are_values_and_callbacks():
    m = nc.Model(8, counts=[10, 10, 10], weight_decay=(5e-3, 5e-3), init_std=0.1)
    o = nc.Optimizer(m, "lbfgs", max_iterations=5)
    assert o.run() is nc.Status.STOP_MAX_ITERATIONS
    o.set_gradient_tolerance(1e-6).set_max_iterations(10000)
    assert o.run() is nc.Status.STOP_GRADIENT_TOLERANCE
    seen = []
    o2 = nc.Optimizer(m.copy(), "gd", max_iterations=100)
    o2.set_callback(lambda model, it, f, g: seen.append((it, f)) or it >= 30, every=10)
    assert o2.run() is nc.Status.STOP_CALLBACK
    assert [s[0] for s in seen] == [10, 20, 30]

    def boom(model, it, f, g):
        raise KeyError("from the callback")
    o2.set_callback(boom)
    with pytest.raises(KeyError, match="from the callback"):
        o2.run()
    o2.set_callback(None)
    assert o2.run() is nc.Status.STOP_MAX_ITERATIONS


def test_diverged_carries_the_last_state():
    m = nc.Model(6, counts=[10, 10, 10], loss="mse", init_std=1.0, seed=3)
    o = nc.Optimizer(m, "gd", lr=1e40, max_iterations=50)
    with pytest.raises(nc.Diverged) as e:
        o.run()
    err = e.value
    assert err.name == "NC_ERR_DIVERGED" and err.detail == o.last_error and err.detail
    assert err.model is m
    assert np.isfinite(err.state["H"]).all() and np.isfinite(err.state["W"]).all()
    assert np.array_equal(err.state["H"], m.H) and np.isfinite(m.objective())


def test_file_errors(tmp_path):
    p = tmp_path / "x.npy"
    p.write_bytes(b"not a numpy file at all, really not")
    with pytest.raises(nc.FormatError) as e:
        nc.read_npy(p)
    assert e.value.detail
    with pytest.raises(nc.FileIOError):
        nc.read_npy(tmp_path / "missing.npy")
    np.save(p, np.zeros((10, 3)))
    data = p.read_bytes()
    p.write_bytes(data[:-8])
    with pytest.raises(nc.TruncatedError):
        nc.read_npy(p)
    np.save(p, np.zeros((10, 3)))
    with pytest.raises(nc.DtypeError):
        nc.read_npy(p, labels=True)
    m = nc.Model(4, counts=[3, 3], init_std=0.1)
    ck = tmp_path / "m.ckpt"
    m.save(ck)
    raw = bytearray(ck.read_bytes())
    raw[40] ^= 1
    ck.write_bytes(bytes(raw))
    with pytest.raises(nc.ChecksumError) as e:
        m.load(ck)
    assert e.value.detail == m.last_error
    m.save(ck)
    with pytest.raises(nc.MismatchError):
        nc.Model(5, counts=[3, 3]).load(ck)


def test_no_crash_on_gc_order():
    # an optimizer, its model, a history and a prediction dropped in any order
    for _ in range(20):
        m = nc.Model(4, counts=[3, 3], weight_decay=(1e-3, 1e-3), init_std=0.1)
        o = nc.Optimizer(m, "gd", max_iterations=3)
        h = o.record(1)
        o.set_prediction(nc.Prediction.from_model(m))
        h.close()                      # detached from the optimizer first
        assert o.history is None and o.run() is nc.Status.STOP_MAX_ITERATIONS
        del m, h
        gc.collect()
        assert o.run() is nc.Status.STOP_MAX_ITERATIONS
        del o
    gc.collect()
    assert os.getpid()
