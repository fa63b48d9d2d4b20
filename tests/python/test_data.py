""".npy reader and writer against NumPy's own files, streams through files,
checkpoints that resume bit-identically."""
import numpy as np
import pytest

import ncollapse as nc
from conftest import clusters, same_bits


@pytest.mark.parametrize("dtype", ["<f8", ">f8", "<f4", ">f4"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_reader_reads_numpy_files(tmp_path, dtype, order):
    x = np.random.default_rng(1).normal(size=(37, 5)).astype(dtype)
    np.save(tmp_path / "x.npy", np.asarray(x, order=order))
    with nc.NpyReader(tmp_path / "x.npy") as r:
        assert r.shape == (37, 5) and r.dtype.name == np.dtype(dtype).name.upper()
        assert r.format[2] == (order == "F")
        assert np.array_equal(r.read_rows(10, 7), x[10:17].astype(np.float64))
        if dtype.endswith("f4"):
            got = r.read_rows(10, 7, dtype=np.float32)
            assert got.dtype == np.float32 and np.array_equal(got, x[10:17])
            out = np.zeros((7, 9), dtype=np.float32)
            r.read_rows(3, 7, out=out[:, :5], dtype=np.float32)
            assert np.array_equal(out[:, :5], x[3:10]) and not out[:, 5:].any()
        else:
            with pytest.raises(nc.DtypeError, match="not float32"):
                r.read_rows(0, 1, dtype=np.float32)
        parts = [a for _, a in r.chunks(8)]
        assert np.array_equal(np.vstack(parts), x.astype(np.float64))
    assert np.array_equal(nc.read_npy(tmp_path / "x.npy"), x.astype(np.float64))


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int32, np.int64, np.uint64])
def test_labels_round_trip(tmp_path, dtype):
    y = (np.arange(50) % 7).astype(dtype)
    np.save(tmp_path / "y.npy", y)
    got = nc.read_npy(tmp_path / "y.npy", labels=True, K=7)
    assert got.dtype == np.int32 and np.array_equal(got, y)
    with pytest.raises(nc.LabelOutOfRange):
        nc.read_npy(tmp_path / "y.npy", labels=True, K=6)
    nc.write_npy(tmp_path / "z.npy", y, dtype=dtype)
    assert np.load(tmp_path / "z.npy").dtype == np.dtype(dtype)
    assert np.array_equal(np.load(tmp_path / "z.npy"), y)


@pytest.mark.parametrize("version", [0, 1, 2, 3])
@pytest.mark.parametrize("byte_order", ["little_endian", "big_endian"])
@pytest.mark.parametrize("fortran", [False, True])
def test_writer_files_read_by_numpy(tmp_path, version, byte_order, fortran):
    x = np.random.default_rng(2).normal(size=(11, 4))
    nc.write_npy(tmp_path / "w.npy", x, version=version, byte_order=byte_order,
                 fortran_order=fortran)
    back = np.load(tmp_path / "w.npy")
    assert back.dtype.byteorder in ("<", ">", "=")
    assert np.array_equal(back, x) and back.flags.f_contiguous == fortran
    nc.write_npy(tmp_path / "w32.npy", x.astype(np.float32))
    assert np.array_equal(np.load(tmp_path / "w32.npy"), x.astype(np.float32))


def test_writer_refuses_incomplete_files(tmp_path):
    w = nc.NpyWriter().begin(tmp_path / "p.npy", "float64", (5, 2))
    w.write_rows(np.ones((3, 2)))
    with pytest.raises(nc.SizeMismatch) as e:
        w.finish()
    assert e.value.detail == w.last_error
    assert not (tmp_path / "p.npy").exists()
    w2 = nc.NpyWriter().begin(tmp_path / "q.npy", "float32", (1, 1))
    with pytest.raises(nc.InvalidValue):
        w2.write_rows(np.array([[1e300]]))


def test_stream_equals_in_memory_and_survives_files(tmp_path):
    H, y, W, b = clusters(N=700, d=12, K=5, seed=9)
    full = nc.metrics(H, y, W, b)
    s = nc.Stream(12, 5, W, b)
    for i in range(0, 700, 64):
        s.add(H[i:i + 64], y[i:i + 64])
    s.add(np.empty((0, 12)), np.empty(0, dtype=np.int32))
    assert s.num_samples == 700
    path = tmp_path / "s1.ncs"
    s.save(path)
    s.next_pass()
    order = np.random.default_rng(0).permutation(700)
    for i in range(0, 700, 100):                 # any order and batching in pass 2
        idx = order[i:i + 100]
        s.add(np.asfortranarray(H[idx]), y[idx].astype(np.int64))  # converted once
    got = s.metrics()
    for k, v in full.items():
        assert abs(got[k] - v) <= 1e-12 * max(1.0, abs(v)), k
    again = nc.Stream.from_file(path, 12, 5)
    assert again.pass_number == 1 and again.num_samples == 700
    again.save(tmp_path / "s2.ncs")
    assert (tmp_path / "s1.ncs").read_bytes() == (tmp_path / "s2.ncs").read_bytes()
    with pytest.raises(nc.MismatchError):
        nc.Stream(13, 5).load(path)
    with pytest.raises(nc.EmptyClass):
        nc.Stream(12, 5).add(H[y < 4], y[y < 4]).next_pass()
    with pytest.raises(nc.SizeMismatch, match="d = 12"):
        nc.Stream(12, 5).add(H[:, :11], y)


def test_stream_float32_and_threads(tmp_path):
    """float32 rows go to nc_stream_add_float as they are (the bits of the
    float64 stream of the converted values), strided rows too; the stream's
    threads change no bit."""
    H, y, W, b = clusters(N=600, d=10, K=6, seed=3)
    H32 = H.astype(np.float32)
    wide = np.zeros((600, 13), dtype=np.float32)
    wide[:, :10] = H32
    paths = []
    for threads, data in ((1, H32.astype(np.float64)), (1, H32), (3, wide[:, :10]), (2, H32)):
        s = nc.Stream(10, 6, W, b)
        s.threads = threads
        assert s.threads == threads
        for p in range(2):
            for i in range(0, 600, 97):
                s.add(data[i:i + 97], y[i:i + 97])
            if p == 0:
                s.next_pass()
        paths.append(tmp_path / ("s%d.ncs" % len(paths)))
        s.save(paths[-1])
    first = paths[0].read_bytes()
    for p in paths[1:]:
        assert p.read_bytes() == first
    with pytest.raises(nc.InvalidValue, match="threads"):
        nc.Stream(10, 6).threads = 0


def test_stream_class_means():
    """The stream's class means and counts against NumPy's, in pass 1 so
    far (a class without samples: zeros) and frozen in pass 2."""
    H, y, W, b = clusters(N=500, d=10, K=6, seed=9)
    s = nc.Stream(10, 6)
    first = y[:40] != 5
    s.add(H[:40][first], y[:40][first])
    M, c = s.class_means()
    assert M.shape == (6, 10) and c.dtype == np.int64
    assert c[5] == 0 and not M[5].any()
    s.add(H[40:], y[40:])
    s.add(H[:40][~first], y[:40][~first])
    M, c = s.class_means()
    for k in range(6):
        assert c[k] == np.sum(y == k)
        ref = H[y == k].mean(axis=0)
        assert np.allclose(M[k], ref, rtol=1e-13, atol=1e-13 * np.abs(ref).max())
    s.next_pass()
    M2, c2 = s.class_means()
    assert M2.tobytes() == M.tobytes() and (c2 == c).all()


def test_stream_without_nc1(tmp_path):
    """nc1_path="none": NC1 is None, every other metric has the bits of the
    default stream; the path goes through copies and files, is refused in
    pass 2, and a stream takes only "auto" or "none"."""
    H, y, W, b = clusters(N=500, d=10, K=6, seed=8)
    out = []
    for path in ("auto", "none"):
        s = nc.Stream(10, 6, W, b, nc1_path=path)
        assert s.nc1_path == nc.Nc1Path.of(path)
        for p in range(2):
            s.add(H, y)
            if p == 0:
                c = s.copy()
                s.next_pass()
                with pytest.raises(nc.InvalidValue, match="pass 1"):
                    s.nc1_path = "auto"
        assert c.nc1_path == s.nc1_path
        s.save(tmp_path / ("%s.ncs" % path))
        loaded = nc.Stream.from_file(tmp_path / ("%s.ncs" % path), 10, 6)
        assert loaded.nc1_path == s.nc1_path
        out.append((s.metrics(), loaded.metrics()))
    (auto, auto_file), (none, none_file) = out
    assert auto["nc1"] is not None and none["nc1"] is None and none_file == none
    assert auto_file == auto
    for k in auto:
        if k != "nc1":
            assert np.float64(none[k]).tobytes() == np.float64(auto[k]).tobytes(), k
    # the in-memory handle's "none" path: the same again
    m = nc.Metrics().set_nc1_path("none")
    mem = m.compute_data(H, y, W, b).to_dict()
    assert mem["nc1"] is None
    ref = nc.metrics(H, y, W, b)
    for k in ref:
        if k != "nc1":
            assert np.float64(mem[k]).tobytes() == np.float64(ref[k]).tobytes(), k
    with pytest.raises(nc.InvalidValue, match="NC_NC1_PATH_NONE"):
        nc.Stream(10, 6, nc1_path="scatter")
    with pytest.raises(nc.InvalidValue, match="NC1 path"):
        a = nc.Stream(10, 6).add(H, y)
        a.merge(nc.Stream(10, 6, nc1_path="none").add(H, y))


@pytest.mark.parametrize("algorithm,momentum", [("gd", 0.9), ("adam", None), ("lbfgs", None)])
def test_checkpoint_resume_bit_identical(tmp_path, algorithm, momentum):
    def make():
        m = nc.Model(10, counts=[40, 20, 10], weight_decay=(5e-4, 5e-4), init_std=0.1, seed=4,
                     bias=True)
        o = nc.Optimizer(m, algorithm, momentum=momentum,
                         schedule=("step", 30, 0.5) if algorithm == "gd" else None)
        return m, o
    def advance(opt, n):
        # L-BFGS step by step: a resumed run() of L-BFGS differs from the uninterrupted
        # one in the last digits; the step-by-step resume is the documented identity
        if algorithm == "lbfgs":
            for _ in range(n):
                opt.step()
        else:
            opt.run(n)
    m, o = make()
    advance(o, 50)
    o.save(tmp_path / "c.ckpt")
    advance(o, 50)
    m2, o2 = make()
    o2.load(tmp_path / "c.ckpt")
    assert o2.iterations == 50
    advance(o2, 50)
    assert same_bits(m.variables, m2.variables) and o.iterations == o2.iterations == 100
    assert same_bits(o.objective, o2.objective)
