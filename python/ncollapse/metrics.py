"""NC1-NC4 (nc_metrics): the Metrics handle and the metrics() function."""
import ctypes
import threading

import numpy as np

from . import _arrays, _errors, _lib
from ._enums import BetweenWeight, GlobalMean, Metric, Nc1Path
from ._handle import Handle

METRIC_NAMES = tuple(_lib.text(_lib.nc_metric_name(m)) for m in Metric)
_NAME_TO_METRIC = {n: Metric(i) for i, n in enumerate(METRIC_NAMES)}


def metric_of(m):
    """A Metric from a member, its value, or its name ("nc1", "NC1", ...)."""
    if isinstance(m, str) and m.lower() in _NAME_TO_METRIC:
        return _NAME_TO_METRIC[m.lower()]
    return Metric.of(m)


class Metrics(Handle):
    """A metrics handle (``nc_metrics``): conventions, a workspace that grows
    to the largest problem seen (reuse one handle for repeated measurements),
    and the results of the last compute.

    ``global_mean``: "sample" (default) or "class_avg"; ``between``:
    "uniform" (default) or "weighted"; ``pinv_rtol`` (default 1e-13).
    After a compute, ``m["nc1"]`` or ``m.get(Metric.NC1)`` gives a value
    (``Unavailable``, with the library's reason, when it is not available),
    ``m.to_dict()`` all of them (``None`` for unavailable ones, as
    ``ncollapse analyze --json``). One thread at a time per handle.
    """

    _what = "metrics handle"
    _ctype = "nc_metrics"
    _destroy = "nc_metrics_destroy"
    _last_error = "nc_metrics_last_error"
    _local = threading.local()

    def __init__(self, global_mean="sample", between="uniform", pinv_rtol=1e-13):
        super().__init__()
        ptr = self._new_ptr()
        st = _lib.nc_metrics_create(ctypes.byref(ptr))
        if st < 0:
            raise _errors.create_error(st, "nc_metrics_create")
        self._own(ptr)
        self._conv = (GlobalMean.SAMPLE, BetweenWeight.UNIFORM, 1e-13)
        self.set_conventions(global_mean, between, pinv_rtol)
        self._value = ctypes.c_double()
        self._value_ref = ctypes.byref(self._value)
        self._computed = False

    @classmethod
    def _cached(cls, global_mean="sample", between="uniform", pinv_rtol=1e-13):
        # One handle per thread for metrics(): its workspace is kept between calls.
        m = getattr(cls._local, "handle", None)
        if m is None or m.closed:
            m = cls._local.handle = cls()
        m.set_conventions(global_mean, between, pinv_rtol)
        return m

    def set_nc1_path(self, path):
        """How the in-memory computes obtain NC1: "auto" (default), "projected"
        or "scatter" (nc_metrics_set_nc1_path; the values agree to rounding),
        or "none": no NC1 (None in to_dict), and no within-class scatter for
        it; every other metric has the same bits."""
        self._check(_lib.nc_metrics_set_nc1_path(self._p, Nc1Path.of(path)))
        return self

    def set_conventions(self, global_mean=None, between=None, pinv_rtol=None):
        g, bw, r = self._conv
        p = self._p
        if global_mean is not None and GlobalMean.of(global_mean) != g:
            g = GlobalMean.of(global_mean)
            self._check(_lib.nc_metrics_set_global_mean(p, g))
        if between is not None and BetweenWeight.of(between) != bw:
            bw = BetweenWeight.of(between)
            self._check(_lib.nc_metrics_set_between_weight(p, bw))
        if pinv_rtol is not None and float(pinv_rtol) != r:
            self._check(_lib.nc_metrics_set_pinv_rtol(p, float(pinv_rtol)))
            r = float(pinv_rtol)
        self._conv = (g, bw, r)
        return self

    @property
    def conventions(self):
        g, bw, r = self._conv
        return {"global_mean": g.name.lower(), "between": bw.name.lower(), "pinv_rtol": r}

    def _done(self, st):
        self._computed = st >= 0
        return self._check(st)

    def compute(self, model):
        """From a model's current state (P, H, labels, b with the bias)."""
        self._done(_lib.nc_metrics_compute(self._p, model._p))
        return self

    def compute_data(self, H, labels, W=None, b=None, *, K=None, copy=True):
        """From arrays: H (N, d), labels (N,) in [0, K), optional W (K, d)
        and b (K,). H and W are used without a copy when they are float64
        with contiguous rows (C order, or a row slice); otherwise they are
        converted once (a copy of N d doubles) or, with copy=False, refused.
        K is W's rows, else ``K``, else max(labels) + 1."""
        p = self._p
        Ha, N, d, ldh = _arrays.rows(H, "H", copy)
        lab, n = _arrays.labels(labels, copy=copy)
        _arrays.check_features_labels(N, d, n)
        if W is None:
            k = _arrays.infer_K(lab, K)
            Wp, ldw, bp = None, d, None
            if b is not None:
                raise _errors.InvalidValue(-7, "b without W: the bias is used only with W")
        else:
            Wa, k, dw, ldw = _arrays.rows(W, "W", copy, shape_hint="(K, d)")
            if dw != d:
                raise _errors.SizeMismatch(-3, "W has shape (%d, %d) but H has d = %d columns%s"
                                           % (k, dw, d, ": W must be (K, d), as nn.Linear(d, K)"
                                              ".weight" if k == d else ""))
            k = _arrays.infer_K(lab, K, k)
            Wp = _arrays.addr(Wa)
            bp = None
            if b is not None:
                ba = _arrays.vector(b, "b", k, copy)
                bp = _arrays.addr(ba)
        self._done(_lib.nc_metrics_compute_data(p, d, k, N, _arrays.addr(Ha), ldh,
                                                _arrays.addr(lab), Wp, ldw, bp))
        return self

    def compute_layer(self, model, layer):
        """Layer ``layer`` of a deep model (nc_metrics_compute_layer)."""
        self._done(_lib.nc_metrics_compute_layer(self._p, model._p, int(layer)))
        return self

    def compute_layer_data(self, H, labels, layers, b=None, *, layer=0, copy=True):
        """From arrays: H (N, d), labels, the layers W_1..W_M ((d, d) each, the
        last (K, d)), optional b, at layer ``layer``."""
        Ha, N, d, ldh = _arrays.rows(H, "H", copy)
        lab, n = _arrays.labels(labels, copy=copy)
        _arrays.check_features_labels(N, d, n)
        M = len(layers)
        if M < 1:
            raise _errors.InvalidSize(-2, "no layers")
        mats = []
        for i, A in enumerate(layers):
            a = np.ascontiguousarray(_arrays.rows(A, "layers[%d]" % i, copy)[0])
            mats.append(a)
        k = mats[-1].shape[0]
        for i, a in enumerate(mats):
            want = (k if i == M - 1 else d, d)
            if a.shape != want:
                raise _errors.SizeMismatch(-3, "layers[%d] has shape %s; %s is needed"
                                           % (i, a.shape, want))
        ptrs = (ctypes.c_void_p * M)(*[_arrays.addr(a) for a in mats])
        bp = None
        if b is not None:
            ba = _arrays.vector(b, "b", k, copy)
            bp = _arrays.addr(ba)
        self._done(_lib.nc_metrics_compute_layer_data(self._p, d, k, N, _arrays.addr(Ha), ldh,
                                                      _arrays.addr(lab), M, ptrs, d, bp,
                                                      int(layer)))
        return self

    def compute_stream(self, stream):
        """From a stream in pass 2 (see Stream)."""
        self._done(_lib.nc_metrics_compute_stream(self._p, stream._p))
        return self

    def get(self, metric):
        """One value of the last compute; Unavailable (with the reason) if not."""
        m = metric_of(metric)
        st = _lib.nc_metrics_get(self._p, m, self._value_ref)
        if st < 0:
            raise _errors.error(st, "%s: %s" % (METRIC_NAMES[m], self.last_error
                                                or "not computed"))
        return self._value.value

    __getitem__ = get

    def to_dict(self):
        """{name: value or None (unavailable)} for every metric."""
        p = self._p
        get = _lib.nc_metrics_get
        v, ref = self._value, self._value_ref
        out = {}
        for i, name in enumerate(METRIC_NAMES):
            out[name] = v.value if get(p, i, ref) == 0 else None
        return out

    def __repr__(self):
        if self._ptr is None:
            return "<ncollapse.Metrics (closed)>"
        c = self.conventions
        s = "<ncollapse.Metrics global_mean=%s between=%s pinv_rtol=%g" % (
            c["global_mean"], c["between"], c["pinv_rtol"])
        if self._computed:
            nc1 = self.to_dict()["nc1"]
            s += " nc1=%s" % ("unavailable" if nc1 is None else "%.6g" % nc1)
        return s + ">"


def metrics(H, labels, W=None, b=None, *, K=None, global_mean="sample", between="uniform",
            pinv_rtol=1e-13, copy=True):
    """Every NC metric of features H (N, d) with labels (N,), and optionally
    the classifier W (K, d) and bias b (K,), as a dict {name: value or None}.

    ``nc_metrics_compute_data`` on the arrays as they are when H and W are
    C-ordered float64 (no copy); other floating arrays are converted once (a
    copy of N d doubles), or refused with ``copy=False``. A (d, N) array
    where (N, d) is expected is an error (``SizeMismatch``), never a silent
    read. Metrics needing W or b are None without them. Uses one handle per
    thread, kept between calls.
    """
    m = Metrics._cached(global_mean, between, pinv_rtol)
    return m.compute_data(H, labels, W, b, K=K, copy=copy).to_dict()

