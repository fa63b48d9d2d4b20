"""Streams (nc_stream), .npy files (nc_npy_reader / nc_npy_writer) and
checkpoints (nc_checkpoint_save / nc_checkpoint_load)."""
import ctypes
import os

import numpy as np

from . import _arrays, _errors, _lib
from ._enums import ByteOrder, Nc1Path, NpyDtype
from ._handle import Handle

_byref = ctypes.byref


def _path(path):
    return os.fsencode(os.fspath(path))


# -- streams --------------------------------------------------------------------
class Stream(Handle):
    """Streaming metrics (``nc_stream``) in two passes over the data, in memory
    independent of N: ``add(H, labels)`` batches of any size in pass 1,
    ``next_pass()``, the same samples again (any order and batching), then
    ``metrics()`` (or ``Metrics.compute_stream``). Accumulators of shards
    ``merge``; ``save``/``load`` carry one through a checksummed file (the
    workflow of docs/API.md, "Stream files"). ``set_classifier(W, b)`` (pass
    1 only) enables NC4 and the accuracy. ``nc1_path="none"`` leaves out NC1
    = tr(Sigma_W Sigma_B^+)/K and its within-class scatter (N d^2 / 2
    multiply-adds, most of the work at language-model sizes); every other
    metric keeps its bits. One thread at a time per stream.
    """

    _what = "stream"
    _ctype = "nc_stream"
    _destroy = "nc_stream_destroy"
    _last_error = "nc_stream_last_error"

    def __init__(self, d, K, W=None, b=None, nc1_path="auto"):
        super().__init__()
        ptr = self._new_ptr()
        st = _lib.nc_stream_create(_byref(ptr), int(d), int(K))
        if st < 0:
            raise _errors.create_error(st, "nc_stream_create(d=%d, K=%d): %s"
                                       % (d, K, _lib.text(_lib.nc_strerror(st))))
        self._own(ptr)
        self.d, self.K = int(d), int(K)
        if Nc1Path.of(nc1_path) != Nc1Path.AUTO:
            self.nc1_path = nc1_path
        if W is not None:
            self.set_classifier(W, b)

    @classmethod
    def from_file(cls, path, d, K):
        """A stream of sizes d, K loaded from a stream file."""
        s = cls(d, K)
        s.load(path)
        return s

    def set_classifier(self, W, b=None):
        """W (K, d) and optional b (K,), copied; W None removes it."""
        if W is None:
            self._check(_lib.nc_stream_set_classifier(self._p, None, self.d, None))
            return self
        a, k, d, ld = _arrays.rows(W, "W", shape_hint="(K, d)")
        if (k, d) != (self.K, self.d):
            raise _errors.SizeMismatch(-3, "W has shape (%d, %d); (K, d) = (%d, %d) is needed"
                                       % (k, d, self.K, self.d))
        bp = None
        if b is not None:
            ba = _arrays.vector(b, "b", self.K)
            bp = _arrays.addr(ba)
        self._check(_lib.nc_stream_set_classifier(self._p, _arrays.addr(a), ld, bp))
        return self

    def add(self, H, labels, copy=True):
        """Add a batch: H (n, d) rows of features (float64 or float32 with
        contiguous rows used as they are, float32 through nc_stream_add_float
        with the bits of the converted values; other floats converted once;
        CPU torch tensors accepted) and n labels in [0, K)."""
        p = self._p
        lab, n = _arrays.labels(labels, copy=copy)
        if n == 0:
            self._check(_lib.nc_stream_add(p, 0, None, self.d, None))
            return self
        f32 = _arrays.rows_f32(H)
        if f32 is not None:
            h, N, d, ld = f32
            _arrays.check_features_labels(N, d, n)
            if d != self.d:
                raise _errors.SizeMismatch(-3, "H has %d columns; the stream has d = %d"
                                           % (d, self.d))
            self._check(_lib.nc_stream_add_float(p, N, _arrays.addr(h), ld, _arrays.addr(lab)))
            return self
        h, N, d, ld = _arrays.rows(H, "H", copy)
        _arrays.check_features_labels(N, d, n)
        if d != self.d:
            raise _errors.SizeMismatch(-3, "H has %d columns; the stream has d = %d" % (d, self.d))
        self._check(_lib.nc_stream_add(p, N, _arrays.addr(h), ld, _arrays.addr(lab)))
        return self

    def merge(self, other):
        """Merge another accumulator into this one (same d, K, classifier, pass)."""
        self._check(_lib.nc_stream_merge(self._p, other._p))
        return self

    def next_pass(self):
        self._check(_lib.nc_stream_next_pass(self._p))
        return self

    @property
    def pass_number(self):
        return _lib.nc_stream_pass(self._p)

    @property
    def num_samples(self):
        """Samples added in the current pass."""
        return _lib.nc_stream_num_samples(self._p)

    @property
    def threads(self):
        """Threads of the stream's passes and of its metrics' tiled pass
        (nc_stream_set_threads; default 1). The results have the same bits
        for any thread count."""
        return _lib.nc_stream_get_threads(self._p)

    @threads.setter
    def threads(self, n):
        self._check(_lib.nc_stream_set_threads(self._p, int(n)))

    @property
    def nc1_path(self):
        """Nc1Path.AUTO (default: pass 2 accumulates NC1's within-class
        scatter) or Nc1Path.NONE (it does not; NC1 is None, the rest the same
        bits). Settable, by member or name, in pass 1 only
        (nc_stream_set_nc1_path); copies and files keep it."""
        return Nc1Path(_lib.nc_stream_get_nc1_path(self._p))

    @nc1_path.setter
    def nc1_path(self, path):
        self._check(_lib.nc_stream_set_nc1_path(self._p, Nc1Path.of(path)))

    def class_means(self):
        """(means, counts): the class means of pass 1's samples as a (K, d)
        array and the class counts (K,) (nc_stream_get_class_means: in pass
        1 so far, zero rows for classes without samples; in pass 2 the
        frozen means)."""
        M = np.empty((self.K, self.d))
        c = np.empty(self.K, dtype=np.uintp)
        self._check(_lib.nc_stream_get_class_means(self._p, _arrays.addr(M), self.d,
                                                   _arrays.addr(c)))
        return M, c.astype(np.int64)

    def copy(self):
        new = Stream.__new__(Stream)
        Handle.__init__(new)
        ptr = new._new_ptr()
        st = _lib.nc_stream_copy(_byref(ptr), self._p)
        if st < 0:
            raise _errors.create_error(st, "nc_stream_copy")
        new._own(ptr)
        new.d, new.K = self.d, self.K
        return new

    __copy__ = copy

    def save(self, path):
        self._check(_lib.nc_stream_save(_path(path), self._p))

    def load(self, path):
        """Replace this stream's state by a file's (same d and K)."""
        self._check(_lib.nc_stream_load(_path(path), self._p))
        return self

    def metrics(self, **conventions):
        """Every metric (pass 2 complete) as a dict, as ncollapse.metrics."""
        from .metrics import Metrics
        return Metrics._cached(**conventions).compute_stream(self).to_dict()

    def __repr__(self):
        if self._ptr is None:
            return "<ncollapse.Stream (closed)>"
        return "<ncollapse.Stream d=%d K=%d pass=%d samples=%d>" % (
            self.d, self.K, self.pass_number, self.num_samples)


# -- .npy files ------------------------------------------------------------------
class NpyReader(Handle):
    """A .npy reader (``nc_npy_reader``): versions 1-3, either byte order, C or
    Fortran order, any row range read straight into an (n, cols) float64
    array (features) or an int32 vector (labels), so files larger than memory
    are read in pieces. ``NpyReader(path)`` opens at once."""

    _what = "npy reader"
    _ctype = "nc_npy_reader"
    _destroy = "nc_npy_reader_destroy"
    _last_error = "nc_npy_reader_last_error"

    def __init__(self, path=None):
        super().__init__()
        ptr = self._new_ptr()
        st = _lib.nc_npy_reader_create(_byref(ptr))
        if st < 0:
            raise _errors.create_error(st, "nc_npy_reader_create")
        self._own(ptr)
        if path is not None:
            self.open(path)

    def open(self, path):
        self._check(_lib.nc_npy_reader_open(self._p, _path(path)))
        dt, nd, r, c = ctypes.c_int(), ctypes.c_size_t(), ctypes.c_size_t(), ctypes.c_size_t()
        self._check(_lib.nc_npy_reader_info(self._p, _byref(dt), _byref(nd), _byref(r), _byref(c)))
        self.dtype, self.ndim, self.rows, self.cols = NpyDtype(dt.value), nd.value, r.value, c.value
        return self

    @property
    def shape(self):
        return (self.rows,) if self.ndim == 1 else (self.rows, self.cols)

    @property
    def format(self):
        """(version, ByteOrder, fortran_order)."""
        v, bo, fo = ctypes.c_uint(), ctypes.c_int(), ctypes.c_int()
        self._check(_lib.nc_npy_reader_format(self._p, _byref(v), _byref(bo), _byref(fo)))
        return v.value, ByteOrder(bo.value), bool(fo.value)

    def read_rows(self, row0=0, nrows=None, out=None, dtype=np.float64):
        """Rows [row0, row0 + nrows) of a float file as an (nrows, cols) float64
        array; with dtype=np.float32, of a float32 file as float32 (no double
        copy: for Stream.add, which takes it as it is)."""
        nrows = self.rows - row0 if nrows is None else nrows
        if np.dtype(dtype) == np.float32:
            if out is None:
                out = np.empty((nrows, self.cols), dtype=np.float32)
            got = _arrays.rows_f32(out)
            if got is None or got[1:3] != (nrows, self.cols):
                raise _errors.SizeMismatch(-3, "out must be a float32 (%d, %d) array with "
                                           "contiguous rows" % (nrows, self.cols))
            if nrows:
                self._check(_lib.nc_npy_reader_read_rows_float(
                    self._p, int(row0), int(nrows), _arrays.addr(out), got[3]))
            return out
        if np.dtype(dtype) != np.float64:
            raise _errors.InvalidValue(-7, "dtype must be float64 or float32, not %s" % dtype)
        if out is None:
            out = np.empty((nrows, self.cols))
            ld = self.cols
        else:
            out, n, c, ld = _arrays.rows(out, "out", copy=False)
            if (n, c) != (nrows, self.cols):
                raise _errors.SizeMismatch(-3, "out is (%d, %d); (%d, %d) is needed"
                                           % (n, c, nrows, self.cols))
        if nrows:
            self._check(_lib.nc_npy_reader_read_rows(self._p, int(row0), int(nrows),
                                                     _arrays.addr(out), ld))
        return out

    def read_labels(self, row0=0, nrows=None, K=0):
        """Entries [row0, row0 + nrows) of an integer file, as int32 checked in
        [0, K) (K = 0: in [0, 2^31))."""
        nrows = self.rows - row0 if nrows is None else nrows
        out = np.empty(nrows, dtype=np.int32)
        if nrows:
            self._check(_lib.nc_npy_reader_read_labels(self._p, int(row0), int(nrows),
                                                       _arrays.addr(out), int(K)))
        return out

    def chunks(self, rows_per_chunk=65536):
        """Iterate over (row0, array) pieces of a float file."""
        for r in range(0, self.rows, rows_per_chunk):
            yield r, self.read_rows(r, min(rows_per_chunk, self.rows - r))

    def close_file(self):
        _lib.nc_npy_reader_close(self._p)

    def __repr__(self):
        if self._ptr is None:
            return "<ncollapse.NpyReader (closed)>"
        if not hasattr(self, "rows"):
            return "<ncollapse.NpyReader (no file)>"
        return "<ncollapse.NpyReader %s %s>" % (self.dtype.name.lower(), self.shape)


class NpyWriter(Handle):
    """A .npy writer (``nc_npy_writer``): ``begin(path, dtype, shape)``, rows
    in order in any number of ``write_rows`` / ``write_labels`` calls, then
    ``finish()``. The file appears atomically at finish; ``abort()``, a
    failure, close() or leaving a ``with`` block by an exception leave no
    file behind. ``version`` 0 (automatic), 1, 2 or 3; ``byte_order``;
    ``fortran_order``."""

    _what = "npy writer"
    _ctype = "nc_npy_writer"
    _destroy = "nc_npy_writer_destroy"
    _last_error = "nc_npy_writer_last_error"

    def __init__(self, version=0, byte_order="little_endian", fortran_order=False):
        super().__init__()
        ptr = self._new_ptr()
        st = _lib.nc_npy_writer_create(_byref(ptr))
        if st < 0:
            raise _errors.create_error(st, "nc_npy_writer_create")
        self._own(ptr)
        self._check(_lib.nc_npy_writer_set_format(ptr, int(version), ByteOrder.of(byte_order),
                                                  1 if fortran_order else 0))

    def begin(self, path, dtype, shape):
        shape = tuple(int(s) for s in shape)
        if len(shape) not in (1, 2):
            raise _errors.Unsupported(-12, "shape %s: 1-D or 2-D arrays only" % (shape,))
        self.dtype = NpyDtype.of(np.dtype(dtype).name if not isinstance(dtype, (NpyDtype, int))
                                 else dtype)
        self._check(_lib.nc_npy_writer_begin(self._p, _path(path), self.dtype, len(shape),
                                             shape[0], shape[1] if len(shape) == 2 else 1))
        return self

    def write_rows(self, x):
        a = np.asarray(x)
        if a.ndim == 1:
            a = a.reshape(-1, 1)
        h, n, c, ld = _arrays.rows(a, "rows", shape_hint="(n, cols)")
        self._check(_lib.nc_npy_writer_write_rows(self._p, _arrays.addr(h), n, ld))
        return self

    def write_labels(self, y):
        lab, n = _arrays.labels(y)
        self._check(_lib.nc_npy_writer_write_labels(self._p, _arrays.addr(lab), n))
        return self

    def finish(self):
        self._check(_lib.nc_npy_writer_finish(self._p))

    def abort(self):
        _lib.nc_npy_writer_abort(self._p)

    def __exit__(self, exc_type, *rest):
        if self._ptr is not None and exc_type is not None:
            self.abort()
        self.close()
        return False


def read_npy(path, labels=False, K=0):
    """A whole .npy file: (rows, cols) / (rows,) float64, or with
    labels=True an int32 vector checked in [0, K)."""
    with NpyReader(path) as r:
        if labels:
            return r.read_labels(0, r.rows, K)
        a = r.read_rows(0, r.rows)
        return a.reshape(r.rows) if r.ndim == 1 else a


def write_npy(path, array, dtype=None, version=0, byte_order="little_endian",
              fortran_order=False):
    """Write an array atomically: floats as float32/float64 (default: float64,
    or float32 for a float32 array), integers as labels (default int32)."""
    a = np.asarray(array)
    if dtype is None:
        dtype = a.dtype if a.dtype in (np.float32, np.float64) else (
            np.int32 if a.dtype.kind in "iu" else np.float64)
    with NpyWriter(version, byte_order, fortran_order) as w:
        w.begin(path, dtype, a.shape)
        if np.dtype(dtype).kind == "f":
            if a.size:
                w.write_rows(a if a.ndim == 2 else a.reshape(-1, 1))
        else:
            w.write_labels(a.reshape(-1))
        w.finish()


# -- checkpoints --------------------------------------------------------------------
def save_checkpoint(path, model, optimizer=None):
    """The full state of a model and optionally its optimizer, written atomically."""
    st = _lib.nc_checkpoint_save(_path(path), model._p,
                                 None if optimizer is None else optimizer._p)
    if st < 0:
        raise _errors.error(st, model.last_error)


def load_checkpoint(path, model, optimizer=None):
    """Restore a checkpoint into a model (and optimizer) of the same sizes,
    depth and labels; a refused file changes nothing."""
    st = _lib.nc_checkpoint_load(_path(path), model._p,
                                 None if optimizer is None else optimizer._p)
    if st < 0:
        raise _errors.error(st, model.last_error)
