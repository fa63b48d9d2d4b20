"""Model: the unconstrained feature model (nc_model)."""
import ctypes

import numpy as np

from . import _arrays, _errors, _lib
from ._enums import Features, Loss, LossParameter
from ._handle import Handle

_byref = ctypes.byref


class Model(Handle):
    """An unconstrained feature model (``nc_model``): free features ``H``
    (one row per sample), a classifier ``W`` (K x d, ``nn.Linear(d, K)``'s
    layout) behind ``depth - 1`` hidden d x d layers, a bias, a loss and
    weight decays in the "halves" convention.

    ``Model(d, counts=[200, 100, 50, 50])`` (samples sorted by class) or
    ``Model(d, labels=y)`` (any order; K = max(y) + 1 unless ``K=`` is
    given). Keyword options, applied in this order (each is also a property
    or method): ``loss`` ("ce", "mse", ... or ``Loss``), ``loss_parameters``
    ({LossParameter or name: value}), ``class_weights``, ``bias``,
    ``weight_decay`` ((lambda_W, lambda_H, lambda_b)), ``features`` ("free" or
    "relu"), ``depth``, ``classifier`` ("etf", "orthogonal" or a (K, d)
    array: fixed), ``classifier_norm``, ``classifier_seed``, ``allnc``
    ((alpha, beta)), ``threads``, and ``init_std`` with ``seed``
    (``init_gaussian``). Defaults are the library's: CE, no bias, decays 0,
    free features, depth 1, learned classifier, W = H = b = 0.

    Threads: one thread at a time per model (an optimizer and its model count
    as one); the library releases the GIL during its calls, so other Python
    threads run meanwhile. ``threads=n`` runs the model's own pass on n
    threads (bit-identical for a given n; set OPENBLAS_NUM_THREADS=1).
    """

    _what = "model"
    _ctype = "nc_model"
    _destroy = "nc_model_destroy"
    _last_error = "nc_model_last_error"

    def __init__(self, d, counts=None, labels=None, *, K=None, loss=None, loss_parameters=None,
                 class_weights=None, bias=None, weight_decay=None, features=None, depth=None,
                 classifier=None, classifier_norm=1.0, classifier_seed=1, allnc=None,
                 threads=None, init_std=None, seed=1):
        super().__init__()
        ptr = self._new_ptr()
        if (counts is None) == (labels is None):
            raise _errors.InvalidValue(-7, "give either counts or labels")
        if counts is not None:
            c = np.ascontiguousarray(counts, dtype=np.uintp)
            if c.ndim != 1:
                raise _errors.SizeMismatch(-3, "counts must be 1-D (K,)")
            if K is not None and int(K) != c.shape[0]:
                raise _errors.SizeMismatch(-3, "K = %d but %d counts" % (K, c.shape[0]))
            st = _lib.nc_model_create_counts(_byref(ptr), int(d), c.shape[0], _arrays.addr(c))
        else:
            lab, n = _arrays.labels(labels)
            k = _arrays.infer_K(lab, K)
            st = _lib.nc_model_create(_byref(ptr), int(d), k, n, _arrays.addr(lab))
        if st < 0:
            raise _errors.create_error(st, "nc_model_create: %s" % _lib.text(_lib.nc_strerror(st)))
        self._own(ptr)
        p = ptr
        self.d = _lib.nc_model_dim(p)
        self.K = _lib.nc_model_num_classes(p)
        self.N = _lib.nc_model_num_samples(p)
        if loss is not None:
            self.loss = loss
        for key, value in (loss_parameters or {}).items():
            self.set_loss_parameter(key, value)
        if class_weights is not None:
            self.set_class_weights(class_weights)
        if bias is not None:
            self.bias = bias
        if weight_decay is not None:
            self.weight_decay = weight_decay
        if features is not None:
            self.features = features
        if depth is not None:
            self.depth = depth
        if classifier is not None:
            self.fix_classifier(classifier, norm=classifier_norm, seed=classifier_seed)
        if allnc is not None:
            self.set_allnc(*allnc)
        if threads is not None:
            self.threads = threads
        if init_std is not None:
            self.init_gaussian(init_std, seed)

    # -- sizes and labels ---------------------------------------------------
    @property
    def labels(self):
        """The N labels (int32, a copy)."""
        out = np.empty(self.N, dtype=np.int32)
        self._check(_lib.nc_model_get_labels(self._p, _arrays.addr(out)))
        return out

    @property
    def counts(self):
        """The K class counts."""
        out = np.empty(self.K, dtype=np.uintp)
        self._check(_lib.nc_model_get_class_counts(self._p, _arrays.addr(out)))
        return out.astype(np.int64)

    # -- options ------------------------------------------------------------
    @property
    def loss(self):
        return Loss(_lib.nc_model_get_loss(self._p))

    @loss.setter
    def loss(self, value):
        self._check(_lib.nc_model_set_loss(self._p, Loss.of(value)))

    @property
    def bias(self):
        return bool(_lib.nc_model_get_bias(self._p))

    @bias.setter
    def bias(self, enabled):
        self._check(_lib.nc_model_set_bias(self._p, 1 if enabled else 0))

    @property
    def weight_decay(self):
        """(lambda_W, lambda_H, lambda_b), halves convention (a paper's
        no-halves lambda' is 2 lambda' here)."""
        w, h, b = ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
        self._check(_lib.nc_model_get_weight_decay(self._p, _byref(w), _byref(h), _byref(b)))
        return (w.value, h.value, b.value)

    @weight_decay.setter
    def weight_decay(self, value):
        value = tuple(value)
        if len(value) == 2:
            value = value + (0.0,)
        self._check(_lib.nc_model_set_weight_decay(self._p, *map(float, value)))

    @property
    def features(self):
        return Features(_lib.nc_model_get_features(self._p))

    @features.setter
    def features(self, value):
        self._check(_lib.nc_model_set_features(self._p, Features.of(value)))

    @property
    def depth(self):
        return _lib.nc_model_get_depth(self._p)

    @depth.setter
    def depth(self, value):
        self._check(_lib.nc_model_set_depth(self._p, int(value)))

    @property
    def threads(self):
        """Threads of the model's pass (nc_model_set_threads; default 1)."""
        return _lib.nc_model_get_threads(self._p)

    @threads.setter
    def threads(self, n):
        self._check(_lib.nc_model_set_threads(self._p, int(n)))

    def loss_parameter(self, parameter):
        v = ctypes.c_double()
        self._check(_lib.nc_model_get_loss_parameter(self._p, LossParameter.of(parameter),
                                                     _byref(v)))
        return v.value

    def set_loss_parameter(self, parameter, value):
        self._check(_lib.nc_model_set_loss_parameter(self._p, LossParameter.of(parameter),
                                                     float(value)))

    def set_class_weights(self, weights):
        w = _arrays.vector(weights, "class weights", self.K)
        self._check(_lib.nc_model_set_class_weights(self._p, _arrays.addr(w)))

    def set_allnc(self, alpha, beta):
        self._check(_lib.nc_model_set_allnc(self._p, float(alpha), float(beta)))

    def init_gaussian(self, std, seed=1):
        """N(0, std^2) entries from seed (|N| for ReLU features), b = 0."""
        self._check(_lib.nc_model_init_gaussian(self._p, float(std), int(seed)))
        return self

    # -- classifier ----------------------------------------------------------
    @property
    def classifier_is_fixed(self):
        return bool(_lib.nc_model_classifier_is_fixed(self._p))

    def fix_classifier(self, classifier="etf", *, norm=1.0, seed=1, P=None):
        """Fix the last layer: "etf" (a simplex ETF with row norm ``norm``),
        "orthogonal" (``norm`` times orthonormal rows), from ``P`` (a d x K
        matrix with orthonormal columns, as a (d, K) array) or drawn from
        ``seed``; or any (K, d) array. Needs d >= K for ETF/orthogonal."""
        p = self._p
        if isinstance(classifier, str):
            kind = classifier.lower()
            fn = {"etf": _lib.nc_model_fix_classifier_etf,
                  "orthogonal": _lib.nc_model_fix_classifier_orthogonal}.get(kind)
            if fn is None:
                raise _errors.InvalidValue(-7, "classifier %r: 'etf', 'orthogonal' or a (K, d) "
                                           "array" % classifier)
            if P is None:
                self._check(fn(p, float(norm), int(seed), None, self.d))
            else:
                # d x K column-major = a (K, d) C array whose rows are P's columns
                pt, k, dd, ld = _arrays.rows(np.asarray(P).T, "P.T", shape_hint="(K, d)")
                if (k, dd) != (self.K, self.d):
                    raise _errors.SizeMismatch(-3, "P has shape %s; (d, K) = (%d, %d) is needed"
                                               % (np.shape(P), self.d, self.K))
                self._check(fn(p, float(norm), int(seed), _arrays.addr(pt), ld))
        else:
            W, ld = self._kd(classifier, "classifier")
            self._check(_lib.nc_model_fix_classifier(p, _arrays.addr(W), ld))
        return self

    def unfix_classifier(self):
        self._check(_lib.nc_model_unfix_classifier(self._p))
        return self

    # -- state -----------------------------------------------------------------
    def _kd(self, W, name, rows=None):
        rows = self.K if rows is None else rows
        a, k, dd, ld = _arrays.rows(W, name, shape_hint="(%d, %d)" % (rows, self.d))
        if (k, dd) != (rows, self.d):
            raise _errors.SizeMismatch(-3, "%s has shape (%d, %d); (%d, %d) is needed"
                                       % (name, k, dd, rows, self.d))
        return a, ld

    @property
    def W(self):
        """The classifier W_M as a (K, d) array (a copy). Setting copies in."""
        out = np.empty((self.K, self.d))
        self._check(_lib.nc_model_get_W(self._p, _arrays.addr(out), self.d))
        return out

    @W.setter
    def W(self, value):
        a, ld = self._kd(value, "W")
        self._check(_lib.nc_model_set_W(self._p, _arrays.addr(a), ld))

    def get_H(self, out=None):
        """The features as an (N, d) array (into out if given: an (N, d)
        float64 array with contiguous rows)."""
        if out is None:
            out = np.empty((self.N, self.d))
            ld = self.d
        else:
            out, n, dd, ld = _arrays.rows(out, "out", copy=False)
            if (n, dd) != (self.N, self.d):
                raise _errors.SizeMismatch(-3, "out has shape (%d, %d); (%d, %d) is needed"
                                           % (n, dd, self.N, self.d))
        self._check(_lib.nc_model_get_H(self._p, _arrays.addr(out), ld))
        return out

    @property
    def H(self):
        """The features, (N, d) (a copy). Setting copies in (no conversion for
        a C-ordered float64 array)."""
        return self.get_H()

    @H.setter
    def H(self, value):
        a, n, dd, ld = _arrays.rows(value, "H")
        if (n, dd) != (self.N, self.d):
            raise _errors.SizeMismatch(-3, "H has shape (%d, %d); (N, d) = (%d, %d) is needed%s"
                                       % (n, dd, self.N, self.d,
                                          " (it looks transposed)" if (dd, n) == (self.N, self.d)
                                          else ""))
        self._check(_lib.nc_model_set_H(self._p, _arrays.addr(a), ld))

    @property
    def b(self):
        out = np.empty(self.K)
        self._check(_lib.nc_model_get_b(self._p, _arrays.addr(out)))
        return out

    @b.setter
    def b(self, value):
        a = _arrays.vector(value, "b", self.K)
        self._check(_lib.nc_model_set_b(self._p, _arrays.addr(a)))

    def layer(self, l):
        """Layer l in [0, depth): W_{l+1}, (d, d), or (K, d) for the last."""
        rows = self.K if l == self.depth - 1 else self.d
        out = np.empty((rows, self.d))
        self._check(_lib.nc_model_get_layer(self._p, int(l), _arrays.addr(out), self.d))
        return out

    def set_layer(self, l, A):
        rows = self.K if l == self.depth - 1 else self.d
        a, ld = self._kd(A, "layer %d" % l, rows)
        self._check(_lib.nc_model_set_layer(self._p, int(l), _arrays.addr(a), ld))

    @property
    def layers(self):
        return [self.layer(l) for l in range(self.depth)]

    @property
    def product(self):
        """P = W_M ... W_1, (K, d): the logits are P h + b."""
        out = np.empty((self.K, self.d))
        self._check(_lib.nc_model_get_product(self._p, _arrays.addr(out), self.d))
        return out

    def layer_features(self, l):
        """H_l = W_l ... W_1 H as (N, d)."""
        out = np.empty((self.N, self.d))
        self._check(_lib.nc_model_get_layer_features(self._p, int(l), _arrays.addr(out), self.d))
        return out

    def layer_classifier(self, l):
        """C_l = W_M ... W_{l+1} as (K, d)."""
        out = np.empty((self.K, self.d))
        self._check(_lib.nc_model_get_layer_classifier(self._p, int(l), _arrays.addr(out),
                                                       self.d))
        return out

    # -- objective, gradient, variables -----------------------------------------
    def objective(self):
        f = ctypes.c_double()
        self._check(_lib.nc_model_objective(self._p, _byref(f)))
        return f.value

    def gradient(self):
        """(objective, gW (K, d), gH (N, d), gb (K,))."""
        f = ctypes.c_double()
        gW = np.empty((self.K, self.d))
        gH = np.empty((self.N, self.d))
        gb = np.empty(self.K)
        self._check(_lib.nc_model_gradient(self._p, _byref(f), _arrays.addr(gW), self.d,
                                           _arrays.addr(gH), self.d, _arrays.addr(gb)))
        return f.value, gW, gH, gb

    @property
    def num_variables(self):
        return _lib.nc_model_num_variables(self._p)

    @property
    def variables(self):
        """All variables as one vector: layers, W_M unless fixed, H, b with bias."""
        out = np.empty(self.num_variables)
        self._check(_lib.nc_model_get_variables(self._p, _arrays.addr(out)))
        return out

    @variables.setter
    def variables(self, x):
        a = _arrays.vector(x, "variables", self.num_variables)
        self._check(_lib.nc_model_set_variables(self._p, _arrays.addr(a)))

    def gradient_vector(self):
        """(objective, gradient in the order of ``variables``)."""
        f = ctypes.c_double()
        g = np.empty(self.num_variables)
        self._check(_lib.nc_model_gradient_vector(self._p, _byref(f), _arrays.addr(g)))
        return f.value, g

    # -- copies, metrics, checkpoints ---------------------------------------------
    def copy(self):
        """A deep copy (state, options, labels; its own workspace and threads)."""
        new = Model.__new__(Model)
        Handle.__init__(new)
        ptr = new._new_ptr()
        st = _lib.nc_model_copy(_byref(ptr), self._p)
        if st < 0:
            raise _errors.create_error(st, "nc_model_copy")
        new._own(ptr)
        new.d, new.K, new.N = self.d, self.K, self.N
        return new

    __copy__ = copy

    def metrics(self, layer=0, **conventions):
        """The metrics of the current state (of layer ``layer``) as a dict;
        see ncollapse.metrics for the conventions."""
        from .metrics import Metrics
        m = Metrics._cached(**conventions)
        return (m.compute(self) if layer == 0 else m.compute_layer(self, layer)).to_dict()

    def save(self, path, optimizer=None):
        """Checkpoint (nc_checkpoint_save): the model and optionally its optimizer."""
        from .data import save_checkpoint
        save_checkpoint(path, self, optimizer)

    def load(self, path, optimizer=None):
        from .data import load_checkpoint
        load_checkpoint(path, self, optimizer)

    def __repr__(self):
        if self._ptr is None:
            return "<ncollapse.Model (closed)>"
        fixed = "fixed" if self.classifier_is_fixed else "learned"
        return ("<ncollapse.Model d=%d K=%d N=%d loss=%s features=%s depth=%d classifier=%s "
                "bias=%s weight_decay=%r threads=%d>"
                % (self.d, self.K, self.N, self.loss.name.lower(), self.features.name.lower(),
                   self.depth, fixed, "on" if self.bias else "off", self.weight_decay,
                   self.threads))
