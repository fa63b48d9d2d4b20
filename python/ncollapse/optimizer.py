"""Optimizer (nc_optimizer), History (nc_history) and Curvature (nc_curvature)."""
import ctypes
import weakref

import numpy as np

from . import _arrays, _errors, _lib
from ._enums import Algorithm, Block, Comparison, Point, Schedule, Status, Verdict
from ._handle import Handle
from .metrics import METRIC_NAMES, metric_of
from .model import Model

_byref = ctypes.byref


class History(Handle):
    """A metrics history (``nc_history``): rows of (step, objective, gradient
    norm, chosen metrics at every layer), recorded by an optimizer's run
    (``Optimizer.record``) or by ``record(model, ...)``.

    ``metrics``: the metrics of a row (names or Metric; default all);
    ``all_layers``: every layer of deep models (default) or layer 0 only;
    ``global_mean``, ``between``, ``pinv_rtol``: conventions of the metrics.
    Read it back with ``h["nc1"]`` (layer 0, one value per row, NaN where
    unavailable), ``h.column("nc1", layer)``, ``h.to_numpy()`` (every column,
    metrics as (rows, layers) arrays) or ``h.to_dict()`` (lists); write it
    with ``save_csv`` / ``save_json``.
    """

    _what = "history"
    _ctype = "nc_history"
    _destroy = "nc_history_destroy"
    _last_error = "nc_history_last_error"

    def __init__(self, metrics=None, *, all_layers=True, global_mean=None, between=None,
                 pinv_rtol=None):
        super().__init__()
        ptr = self._new_ptr()
        st = _lib.nc_history_create(_byref(ptr))
        if st < 0:
            raise _errors.create_error(st, "nc_history_create")
        self._own(ptr)
        self.set_metrics(metrics)
        if not all_layers:
            self._check(_lib.nc_history_set_all_layers(ptr, 0))
        from ._enums import BetweenWeight, GlobalMean
        m = _lib.nc_history_metrics(ptr)
        if global_mean is not None:
            self._check(_lib.nc_metrics_set_global_mean(m, GlobalMean.of(global_mean)))
        if between is not None:
            self._check(_lib.nc_metrics_set_between_weight(m, BetweenWeight.of(between)))
        if pinv_rtol is not None:
            self._check(_lib.nc_metrics_set_pinv_rtol(m, float(pinv_rtol)))

    def set_metrics(self, metrics=None):
        if metrics is None:
            chosen = list(range(len(METRIC_NAMES)))
            self._check(_lib.nc_history_set_metrics(self._p, None, 0))
        else:
            chosen = [int(metric_of(m)) for m in metrics]
            a = np.array(chosen, dtype=np.intc)
            self._check(_lib.nc_history_set_metrics(self._p, _arrays.addr(a), len(chosen)))
        self._metrics = chosen

    @property
    def metrics(self):
        return [METRIC_NAMES[m] for m in self._metrics]

    def record(self, model, step=0, objective=float("nan"), gradient_norm=float("nan")):
        self._check(_lib.nc_history_record(self._p, model._p, int(step), float(objective),
                                           float(gradient_norm)))

    @property
    def rows(self):
        return _lib.nc_history_rows(self._p)

    def __len__(self):
        return self.rows

    @property
    def layers(self):
        return _lib.nc_history_layers(self._p)

    def row(self, i):
        """(step, objective, gradient_norm) of row i."""
        s, f, g = ctypes.c_size_t(), ctypes.c_double(), ctypes.c_double()
        self._check(_lib.nc_history_get_row(self._p, int(i), _byref(s), _byref(f), _byref(g)))
        return s.value, f.value, g.value

    def get(self, row, metric, layer=0):
        """A value; Unavailable if not recorded or not available at that row."""
        v = ctypes.c_double()
        self._check(_lib.nc_history_get(self._p, int(row), int(layer), metric_of(metric),
                                        _byref(v)))
        return v.value

    def column(self, name, layer=0):
        """One column as an array over the rows: "step", "objective",
        "gradient_norm" or a metric (NaN where unavailable)."""
        p, R = self._p, self.rows
        if name in ("step", "objective", "gradient_norm"):
            rows = [self.row(i) for i in range(R)]
            j = ("step", "objective", "gradient_norm").index(name)
            return np.array([r[j] for r in rows], dtype=np.int64 if j == 0 else np.float64)
        m = metric_of(name)
        out = np.empty(R)
        v = ctypes.c_double()
        ref = _byref(v)
        for i in range(R):
            out[i] = v.value if _lib.nc_history_get(p, i, int(layer), m, ref) == 0 else np.nan
        return out

    def __getitem__(self, name):
        return self.column(name)

    def to_numpy(self):
        """{"step", "objective", "gradient_norm": (rows,) arrays; each recorded
        metric: a (rows, layers) array, NaN where unavailable}."""
        out = {k: self.column(k) for k in ("step", "objective", "gradient_norm")}
        L = self.layers
        for m in self._metrics:
            out[METRIC_NAMES[m]] = np.stack([self.column(m, l) for l in range(L)], axis=1) \
                if L else np.empty((0, 0))
        return out

    def to_dict(self):
        """The same as lists (None where unavailable); metrics of layer 0
        under their names, deeper layers as "l<layer>_<name>"."""
        a = self.to_numpy()
        out = {k: a[k].tolist() for k in ("step", "objective", "gradient_norm")}
        for m in self._metrics:
            name = METRIC_NAMES[m]
            for l in range(self.layers):
                key = name if l == 0 else "l%d_%s" % (l, name)
                out[key] = [None if np.isnan(x) else float(x) for x in a[name][:, l]]
        return out

    def clear(self):
        self._check(_lib.nc_history_clear(self._p))

    def save_csv(self, path):
        self._check(_lib.nc_history_save_csv(self._p, _path(path)))

    def save_json(self, path):
        self._check(_lib.nc_history_save_json(self._p, _path(path)))

    def __repr__(self):
        if self._ptr is None:
            return "<ncollapse.History (closed)>"
        return "<ncollapse.History rows=%d layers=%d metrics=%d>" % (
            self.rows, self.layers, len(self._metrics))


def _path(path):
    import os
    return os.fsencode(path)


class Optimizer(Handle):
    """An optimizer (``nc_optimizer``) of a Model, which it keeps alive.

    ``algorithm``: "gd" (heavy ball), "nesterov", "adam" or "lbfgs".
    Keyword options (each also a method): ``lr``, ``lr_features`` (the H
    block's rate), ``lr_bias``, ``momentum``, ``adam`` ((b1, b2, eps)),
    ``history`` (L-BFGS memory), ``schedule`` ((kind, period, parameter)),
    ``max_iterations``, ``tolerance`` (gradient norm), ``escape``,
    ``check``, ``prediction``.

    ``run()`` returns the reason it stopped, a ``Status`` > 0
    (STOP_MAX_ITERATIONS, STOP_GRADIENT_TOLERANCE, STOP_CALLBACK,
    STOP_NO_PROGRESS): reasons are values, not exceptions. Failures raise;
    ``Diverged`` carries the last finite state. ``step()`` returns
    Status.SUCCESS or STOP_NO_PROGRESS.

    Threads: while it runs, neither the optimizer nor its model may be used
    by another thread; the GIL is released during run() and step() (and
    taken again for the callback).
    """

    _what = "optimizer"
    _ctype = "nc_optimizer"
    _destroy = "nc_optimizer_destroy"
    _last_error = "nc_optimizer_last_error"

    def __init__(self, model, algorithm="gd", *, lr=None, lr_features=None, lr_bias=None,
                 momentum=None, adam=None, history=None, schedule=None, max_iterations=None,
                 tolerance=None, escape=None, check=None, prediction=None):
        super().__init__()
        if not isinstance(model, Model):
            raise TypeError("model must be an ncollapse.Model")
        ptr = self._new_ptr()
        self.algorithm = Algorithm.of(algorithm)
        st = _lib.nc_optimizer_create(_byref(ptr), model._p, self.algorithm)
        if st < 0:
            raise _errors.create_error(st, "nc_optimizer_create: %s" % model.last_error)
        self._own(ptr)
        self.model = model
        model._dependents.add(self)
        self._callback = None
        self._cb_error = None
        self._history = None
        self._prediction = None
        if lr is not None:
            self.set_learning_rate(lr)
        if lr_features is not None:
            self.set_learning_rate(lr_features, Block.FEATURES)
        if lr_bias is not None:
            self.set_learning_rate(lr_bias, Block.BIAS)
        if momentum is not None:
            self.set_momentum(momentum)
        if adam is not None:
            self.set_adam(*adam)
        if history is not None:
            self.set_history(history)
        if schedule is not None:
            self.set_schedule(*schedule)
        if max_iterations is not None:
            self.set_max_iterations(max_iterations)
        if tolerance is not None:
            self.set_gradient_tolerance(tolerance)
        if escape is not None:
            self.set_escape(escape)
        if check is not None:
            self.set_check(check)
        if prediction is not None:
            self.set_prediction(prediction)

    def _release(self, other):
        if other is self._history:
            self.record(None)
        elif other is self._prediction:
            self.set_prediction(None)
        else:
            self.close()

    # -- options -------------------------------------------------------------
    def set_learning_rate(self, lr, block=None):
        if block is None:
            self._check(_lib.nc_optimizer_set_learning_rate(self._p, float(lr)))
        else:
            self._check(_lib.nc_optimizer_set_block_learning_rate(self._p, Block.of(block),
                                                                  float(lr)))
        return self

    def set_momentum(self, mu):
        self._check(_lib.nc_optimizer_set_momentum(self._p, float(mu)))
        return self

    def set_adam(self, beta1=0.9, beta2=0.999, eps=1e-8):
        self._check(_lib.nc_optimizer_set_adam(self._p, float(beta1), float(beta2), float(eps)))
        return self

    def set_history(self, m):
        """L-BFGS memory (1..1000)."""
        self._check(_lib.nc_optimizer_set_history(self._p, int(m)))
        return self

    def set_schedule(self, schedule, period=1, parameter=1.0):
        self._check(_lib.nc_optimizer_set_schedule(self._p, Schedule.of(schedule), int(period),
                                                   float(parameter)))
        return self

    def set_max_iterations(self, n):
        self._check(_lib.nc_optimizer_set_max_iterations(self._p, int(n)))
        return self

    def set_gradient_tolerance(self, tol):
        self._check(_lib.nc_optimizer_set_gradient_tolerance(self._p, float(tol)))
        return self

    def set_escape(self, max_escapes):
        self._check(_lib.nc_optimizer_set_escape(self._p, int(max_escapes)))
        return self

    def set_check(self, enabled=True):
        self._check(_lib.nc_optimizer_set_check(self._p, 1 if enabled else 0))
        return self

    def set_prediction(self, prediction):
        """Compare every run's stop with this Prediction (kept alive; None: none)."""
        old = self._prediction
        self._check(_lib.nc_optimizer_set_prediction(
            self._p, None if prediction is None else prediction._p))
        if old is not None:
            old._dependents.discard(self)
        self._prediction = prediction
        if prediction is not None:
            prediction._dependents.add(self)
        return self

    def set_callback(self, fn, every=1):
        """Call ``fn(model, iteration, objective, gradient_norm)`` every
        ``every`` steps of run(); a true return value stops the run
        (STOP_CALLBACK). An exception in fn stops the run and is raised by
        run(). fn runs on the thread that called run(), with the GIL, and may
        read the model (metrics, W, H). None removes it."""
        p = self._p
        if fn is None:
            self._check(_lib.nc_optimizer_set_callback(p, _lib.PROGRESS_FN(), None, 1))
            self._callback = None
            return self
        wself = weakref.ref(self)

        def trampoline(_model, iteration, objective, gradient_norm, _user):
            me = wself()
            if me is None:
                return 1
            try:
                return 1 if fn(me.model, iteration, objective, gradient_norm) else 0
            except BaseException as e:  # raised again by run()
                me._cb_error = e
                return 1

        cfn = _lib.PROGRESS_FN(trampoline)
        self._check(_lib.nc_optimizer_set_callback(p, cfn, None, int(every)))
        self._callback = cfn  # kept alive as long as the library may call it
        return self

    def record(self, every=100, history=None, **history_options):
        """Record a metrics history during run(): step 0, every ``every``
        steps and the final state. Returns the History (a new one unless
        given; ``history_options`` as History's). record(None) stops."""
        p = self._p
        if every is None:
            self._check(_lib.nc_optimizer_set_recorder(p, None, 1))
            if self._history is not None:
                self._history._dependents.discard(self)
            self._history = None
            return None
        if history is None:
            history = History(**history_options)
        self._check(_lib.nc_optimizer_set_recorder(p, history._p, int(every)))
        if self._history is not None and self._history is not history:
            self._history._dependents.discard(self)
        self._history = history
        history._dependents.add(self)
        return history

    @property
    def history(self):
        """The History being recorded (None without a recorder)."""
        return self._history

    # -- running ----------------------------------------------------------------
    def _finish(self, st):
        err, self._cb_error = self._cb_error, None
        if st == -8:
            e = _errors.error(st, self.last_error)
            e.model = self.model
            e.state = {"W": self.model.W, "H": self.model.H, "b": self.model.b,
                       "objective": self.objective, "gradient_norm": self.gradient_norm,
                       "iteration": self.iterations}
            raise e
        if st < 0:
            raise _errors.error(st, self.last_error)
        if err is not None:
            raise err
        return Status(st)

    def step(self):
        """One step: Status.SUCCESS, or STOP_NO_PROGRESS (nothing changed)."""
        return self._finish(_lib.nc_optimizer_step(self._p))

    def run(self, max_iterations=None):
        """Run until a stopping test holds; returns the reason (a Status)."""
        if max_iterations is not None:
            self.set_max_iterations(max_iterations)
        return self._finish(_lib.nc_optimizer_run(self._p))

    def reset(self):
        self._check(_lib.nc_optimizer_reset(self._p))
        return self

    # -- results ----------------------------------------------------------------
    @property
    def iterations(self):
        return _lib.nc_optimizer_iterations(self._p)

    @property
    def objective(self):
        return _lib.nc_optimizer_objective(self._p)

    @property
    def gradient_norm(self):
        return _lib.nc_optimizer_gradient_norm(self._p)

    @property
    def evaluations(self):
        return _lib.nc_optimizer_evaluations(self._p)

    @property
    def escapes(self):
        return _lib.nc_optimizer_escapes(self._p)

    @property
    def staged_steps(self):
        return _lib.nc_optimizer_staged_steps(self._p)

    @property
    def stop_point(self):
        return Point(_lib.nc_optimizer_stop_point(self._p))

    @property
    def stop_info(self):
        """One line on why and where the last run stopped."""
        return _lib.text(_lib.nc_optimizer_stop_info(self._p))

    def stop_verdict(self):
        """The comparison of the last run's stop with the prediction: a dict as
        Prediction.compare; Unavailable without a prediction."""
        v = ctypes.c_int()
        vals = np.empty(len(Comparison))
        self._check(_lib.nc_optimizer_stop_verdict(self._p, _byref(v), _arrays.addr(vals)))
        return _comparison(vals, v.value)

    def save(self, path):
        """Checkpoint of the model and this optimizer."""
        from .data import save_checkpoint
        save_checkpoint(path, self.model, self)

    def load(self, path):
        from .data import load_checkpoint
        load_checkpoint(path, self.model, self)

    def __repr__(self):
        if self._ptr is None:
            return "<ncollapse.Optimizer (closed)>"
        return ("<ncollapse.Optimizer %s iterations=%d objective=%.6g gradient_norm=%.3g "
                "model=(d=%d K=%d N=%d)%s>"
                % (self.algorithm.name.lower(), self.iterations, self.objective,
                   self.gradient_norm, self.model.d, self.model.K, self.model.N,
                   " recording" if self._history is not None else ""))


def _comparison(vals, verdict):
    out = {c.name.lower(): float(vals[c]) for c in Comparison}
    out["verdict"] = Verdict(verdict)
    out["verdict_name"] = _lib.text(_lib.nc_verdict_name(verdict))
    return out


class Curvature(Handle):
    """The second-order check of a model's current state (``nc_curvature``):
    strict saddle (with a direction of negative curvature), local minimum or
    inconclusive. ``compute()`` returns the Point; the model's state is the
    same, bit for bit, afterwards. Keeps the model alive."""

    _what = "curvature check"
    _ctype = "nc_curvature"
    _destroy = "nc_curvature_destroy"
    _last_error = "nc_curvature_last_error"

    def __init__(self, model, *, max_steps=60, rtol=1e-6, seed=1, gtol=1e-8, ctol=1e-6):
        super().__init__()
        ptr = self._new_ptr()
        st = _lib.nc_curvature_create(_byref(ptr), model._p)
        if st < 0:
            raise _errors.create_error(st, "nc_curvature_create")
        self._own(ptr)
        self.model = model
        model._dependents.add(self)
        self._check(_lib.nc_curvature_set_lanczos(ptr, int(max_steps), float(rtol), int(seed)))
        self._check(_lib.nc_curvature_set_tolerances(ptr, float(gtol), float(ctol)))

    def compute(self):
        self._check(_lib.nc_curvature_compute(self._p))
        return self.point

    @property
    def point(self):
        return Point(_lib.nc_curvature_point(self._p))

    def _d(name):
        fn = getattr(_lib, "nc_curvature_" + name)
        return property(lambda self: fn(self._p))

    objective = _d("objective")
    gradient_norm = _d("gradient_norm")
    min_eigenvalue = _d("min_eigenvalue")
    max_eigenvalue = _d("max_eigenvalue")
    residual = _d("residual")
    min_multiplier = _d("min_multiplier")
    active_bounds = _d("active_bounds")
    lanczos_steps = _d("lanczos_steps")
    evaluations = _d("evaluations")
    del _d

    @property
    def dead_classes(self):
        out = np.empty(self.model.K, dtype=np.uintp)
        n = _lib.nc_curvature_dead_classes(self._p, _arrays.addr(out))
        return out[:n].astype(np.int64)

    @property
    def direction(self):
        """The unit Ritz vector of lambda_min, in the order of Model.variables."""
        out = np.empty(self.model.num_variables)
        self._check(_lib.nc_curvature_get_direction(self._p, _arrays.addr(out)))
        return out

    def __repr__(self):
        if self._ptr is None:
            return "<ncollapse.Curvature (closed)>"
        return "<ncollapse.Curvature point=%s lambda_min=%.3g lambda_max=%.3g>" % (
            _lib.text(_lib.nc_point_name(self.point)), self.min_eigenvalue, self.max_eigenvalue)
