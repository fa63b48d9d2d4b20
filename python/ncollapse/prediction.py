"""Prediction: the papers' closed-form optima (nc_prediction)."""
import ctypes

import numpy as np

from . import _arrays, _errors, _lib
from ._enums import Comparison, PredictionKind, Status
from ._handle import Handle
from .optimizer import _comparison

_byref = ctypes.byref


class Prediction(Handle):
    """The global minimiser of a UFM in closed form (``nc_prediction``).

    ``Prediction(kind, counts, weight_decay=(lambda_W, lambda_H, lambda_b),
    bias=..., depth=..., dim=..., classifier_norm=..., tolerance=...,
    max_iterations=...)`` with ``kind`` a PredictionKind or its name
    ("balanced_ce", "balanced_mse", "hong_ling_ce", "dang_relu_ce",
    "deep_linear_mse", "fixed_etf"); or ``Prediction.from_model(model)``,
    which takes the kind and every option from the model. Results are
    computed on first access (or by ``compute()``, which returns
    Status.SUCCESS or STOP_MAX_ITERATIONS); K x K results are (K, K) arrays
    with [j, k] the entry of row j, column k (``logits[:, k]`` = the logits of
    class k's mean). ``compare(model)`` measures a model against it.
    """

    _what = "prediction"
    _ctype = "nc_prediction"
    _destroy = "nc_prediction_destroy"
    _last_error = "nc_prediction_last_error"

    def __init__(self, kind, counts, *, weight_decay=None, bias=None, depth=None, dim=None,
                 classifier_norm=None, tolerance=None, max_iterations=1000000):
        super().__init__()
        c = np.ascontiguousarray(counts, dtype=np.uintp)
        if c.ndim != 1:
            raise _errors.SizeMismatch(-3, "counts must be 1-D (K,)")
        ptr = self._new_ptr()
        st = _lib.nc_prediction_create(_byref(ptr), PredictionKind.of(kind), c.shape[0],
                                       _arrays.addr(c))
        if st < 0:
            raise _errors.create_error(st, "nc_prediction_create: %s"
                                       % _lib.text(_lib.nc_strerror(st)))
        self._own(ptr)
        self.K = c.shape[0]
        self.counts = c.astype(np.int64)
        self._status = None
        if weight_decay is not None:
            self.set_weight_decay(*weight_decay)
        if bias is not None:
            self.set_bias(bias)
        if depth is not None:
            self.set_depth(depth)
        if dim is not None:
            self.set_dim(dim)
        if classifier_norm is not None:
            self.set_classifier_norm(classifier_norm)
        if tolerance is not None:
            self.set_tolerance(tolerance, max_iterations)

    @classmethod
    def from_model(cls, model):
        """The prediction for the model's options (nc_prediction_create_from_model);
        Unsupported, naming the option, when no kind covers them."""
        new = cls.__new__(cls)
        Handle.__init__(new)
        ptr = new._new_ptr()
        st = _lib.nc_prediction_create_from_model(_byref(ptr), model._p)
        if st < 0:
            raise _errors.error(st, model.last_error)
        new._own(ptr)
        new.K = model.K
        new.counts = model.counts
        new._status = None
        return new

    @property
    def kind(self):
        return PredictionKind(_lib.nc_prediction_get_kind(self._p))

    def _set(self, st):
        self._status = None
        return self._check(st)

    def set_weight_decay(self, lambda_W, lambda_H, lambda_b=0.0):
        self._set(_lib.nc_prediction_set_weight_decay(self._p, float(lambda_W), float(lambda_H),
                                                      float(lambda_b)))
        return self

    def set_bias(self, enabled):
        self._set(_lib.nc_prediction_set_bias(self._p, 1 if enabled else 0))
        return self

    def set_depth(self, depth):
        self._set(_lib.nc_prediction_set_depth(self._p, int(depth)))
        return self

    def set_dim(self, d):
        self._set(_lib.nc_prediction_set_dim(self._p, int(d)))
        return self

    def set_classifier_norm(self, norm):
        self._set(_lib.nc_prediction_set_classifier_norm(self._p, float(norm)))
        return self

    def set_tolerance(self, tol, max_iterations=1000000):
        self._set(_lib.nc_prediction_set_tolerance(self._p, float(tol), int(max_iterations)))
        return self

    def compute(self):
        """Compute (again): Status.SUCCESS or STOP_MAX_ITERATIONS."""
        self._status = None
        self._status = Status(self._check(_lib.nc_prediction_compute(self._p)))
        return self._status

    def _ready(self):
        if self._status is None:
            self.compute()
        return self._p

    def _scalar(self, fn):
        v = ctypes.c_double()
        self._check(fn(self._ready(), _byref(v)))
        return v.value

    def _kk(self, fn):
        out = np.empty((self.K, self.K), order="F")  # column-major, as the library writes
        self._check(fn(self._ready(), _arrays.addr(out), self.K))
        return out

    def _k(self, fn, dtype=np.float64):
        out = np.empty(self.K, dtype=dtype)
        self._check(fn(self._ready(), _arrays.addr(out)))
        return out

    @property
    def objective(self):
        """F*, in the convention of Model.objective()."""
        return self._scalar(_lib.nc_prediction_get_objective)

    @property
    def logits(self):
        return self._kk(_lib.nc_prediction_get_logits)

    @property
    def classifier_gram(self):
        return self._kk(_lib.nc_prediction_get_classifier_gram)

    @property
    def feature_gram(self):
        return self._kk(_lib.nc_prediction_get_feature_gram)

    @property
    def bias(self):
        return self._k(_lib.nc_prediction_get_bias)

    @property
    def norms(self):
        """(||w_k||, ||hbar_k||) as two (K,) arrays."""
        w, h = np.empty(self.K), np.empty(self.K)
        self._check(_lib.nc_prediction_get_norms(self._ready(), _arrays.addr(w), _arrays.addr(h)))
        return w, h

    @property
    def singular_values(self):
        return self._k(_lib.nc_prediction_get_singular_values)

    @property
    def feature_scale(self):
        return self._scalar(_lib.nc_prediction_get_feature_scale)

    @property
    def collapsed(self):
        return self._k(_lib.nc_prediction_get_collapsed, np.intc).astype(bool)

    @property
    def thresholds(self):
        """Class k collapses iff sqrt(lambda_W lambda_H) >= thresholds[k] (no compute)."""
        out = np.empty(self.K)
        self._check(_lib.nc_prediction_get_thresholds(self._p, _arrays.addr(out)))
        return out

    @property
    def critical_count(self):
        return self._scalar(_lib.nc_prediction_get_critical_count)

    @property
    def iterations(self):
        return _lib.nc_prediction_iterations(self._p)

    @property
    def residual(self):
        return _lib.nc_prediction_residual(self._p)

    def compare(self, model, rtol=1e-6):
        """Compare the model's current state with the prediction
        (nc_prediction_compare): a dict of the values (objective,
        predicted_objective, objective_gap, classifier_gram, feature_gram,
        logits, collapse_agreement), "verdict" (a Verdict) and "verdict_name"
        ("optimum", "above the prediction", ...)."""
        vals = np.empty(len(Comparison))
        v = ctypes.c_int()
        self._check(_lib.nc_prediction_compare(self._p, model._p, float(rtol), _arrays.addr(vals),
                                               _byref(v)))
        self._status = self._status or Status.SUCCESS
        return _comparison(vals, v.value)

    def __repr__(self):
        if self._ptr is None:
            return "<ncollapse.Prediction (closed)>"
        s = "<ncollapse.Prediction %s K=%d counts=%s" % (self.kind.name.lower(), self.K,
                                                        self.counts.tolist())
        if self._status is not None:
            s += " objective=%.10g" % self.objective
        return s + ">"
