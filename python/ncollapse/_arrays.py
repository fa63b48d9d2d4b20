"""Checking NumPy arrays against the library's layouts.

The library's features ``H`` (d x N column-major, column stride ldh >= d)
are byte for byte an ``(N, d)`` float64 array whose rows are contiguous and
``ldh`` doubles apart: a C-contiguous ``(N, d)`` array, or a row slice of a
wider one (``X[:, :d]``). Such an array is passed without a copy; so is a
``(K, d)`` classifier ``W`` (``nn.Linear(d, K).weight``) and a ``(K, d)``
frame (row k = vector k). Any other floating array (float32, Fortran order,
non-contiguous rows, a CPU torch tensor of another dtype) is converted once,
into a new C-ordered float64 array (one read of the input and one write of
N d doubles), unless the caller passed ``copy=False``, which refuses it with
``InvalidValue``. Integer, complex, boolean and object arrays are refused.
Labels are ``int32`` without a copy; other integer arrays are converted once
(N int32 values).
"""
import numpy as np

from . import _errors

_F64 = np.dtype(np.float64)
_I32 = np.dtype(np.int32)


def _from_torch(x, name):
    # A torch tensor (not imported here: recognised by its type's module).
    dev = getattr(x, "device", None)
    if dev is not None and getattr(dev, "type", "cpu") != "cpu":
        raise _errors.InvalidValue(-7, "%s is a tensor on %s: move it to the CPU first "
                                   "(.cpu())" % (name, dev))
    x = x.detach()
    try:
        return x.numpy()
    except TypeError:  # bfloat16 and other dtypes NumPy lacks
        return x.double().numpy()


def asarray(x, name):
    if isinstance(x, np.ndarray):
        return x, False
    if type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach"):
        return _from_torch(x, name), False
    return np.asarray(x), True


def rows(x, name, copy=True, shape_hint="(N, d)"):
    """(array, nrows, ncols, ld) for a 2-D floating array used as rows of
    doubles ld apart, converting it once if needed and allowed."""
    a, converted = asarray(x, name)
    if a.dtype.kind != "f":
        raise _errors.InvalidValue(-7, "%s has dtype %s: a floating-point %s array is needed "
                                   "(float64 is used as it is, float32 is converted)"
                                   % (name, a.dtype, shape_hint))
    if a.ndim != 2:
        raise _errors.SizeMismatch(-3, "%s has shape %s: a 2-D %s array is needed"
                                   % (name, a.shape, shape_hint))
    n, m = a.shape
    if n == 0 or m == 0:
        raise _errors.InvalidSize(-2, "%s has shape %s: no %s" % (
            name, a.shape, "rows" if n == 0 else "columns"))
    s0, s1 = a.strides
    if (a.dtype == _F64 and a.dtype.isnative and a.flags.aligned
            and (s1 == 8 or m == 1) and (n == 1 or (s0 % 8 == 0 and s0 >= 8 * m))):
        return a, n, m, (s0 // 8 if n > 1 else m)
    if not copy and not converted:
        why = []
        if a.dtype != _F64 or not a.dtype.isnative:
            why.append("dtype %s, not float64" % a.dtype)
        if a.flags.f_contiguous and not a.flags.c_contiguous:
            why.append("Fortran order")
        elif not why:
            why.append("rows not contiguous (strides %s)" % (a.strides,))
        raise _errors.InvalidValue(-7, "%s (%s, %s) would need a copy, refused with copy=False: "
                                   "pass a C-ordered float64 %s array"
                                   % (name, a.shape, ", ".join(why), shape_hint))
    a = np.ascontiguousarray(a, dtype=_F64)
    return a, n, m, m


def rows_f32(x):
    """(array, nrows, ncols, ld) if x is a native, aligned float32 2-D array
    (or CPU tensor) with contiguous rows, to be used as it is; else None."""
    if not isinstance(x, np.ndarray):
        if type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach"):
            if str(getattr(x, "dtype", "")) != "torch.float32":
                return None
            x = _from_torch(x, "H")
        else:
            return None
    if x.dtype != np.float32 or not x.dtype.isnative or not x.flags.aligned or x.ndim != 2:
        return None
    n, m = x.shape
    if n == 0 or m == 0:
        return None
    s0, s1 = x.strides
    if (s1 == 4 or m == 1) and (n == 1 or (s0 % 4 == 0 and s0 >= 4 * m)):
        return x, n, m, (s0 // 4 if n > 1 else m)
    return None


def vector(x, name, n, copy=True):
    """A contiguous float64 vector of n values (converted once if needed)."""
    a, converted = asarray(x, name)
    if a.dtype.kind not in "fiu":
        raise _errors.InvalidValue(-7, "%s has dtype %s: numbers are needed" % (name, a.dtype))
    if a.shape != (n,):
        raise _errors.SizeMismatch(-3, "%s has shape %s: (%d,) is needed" % (name, a.shape, n))
    if a.dtype == _F64 and a.dtype.isnative and a.flags.c_contiguous and a.flags.aligned:
        return a
    if not copy and not converted:
        raise _errors.InvalidValue(-7, "%s (dtype %s) would need a copy, refused with copy=False"
                                   % (name, a.dtype))
    return np.ascontiguousarray(a, dtype=_F64)


def labels(y, name="labels", copy=True):
    """(int32 array, N) for class labels (converted once from other integer types)."""
    a, converted = asarray(y, name)
    if a.dtype.kind not in "iu":
        raise _errors.InvalidValue(-7, "%s has dtype %s: integer class labels are needed"
                                   % (name, a.dtype))
    if a.ndim != 1:
        raise _errors.SizeMismatch(-3, "%s has shape %s: a 1-D (N,) array is needed"
                                   % (name, a.shape))
    if a.dtype == _I32 and a.flags.c_contiguous and a.flags.aligned:
        return a, a.shape[0]
    if not copy and not converted:
        raise _errors.InvalidValue(-7, "%s (dtype %s) would need a copy, refused with copy=False: "
                                   "pass int32 labels" % (name, a.dtype))
    if a.size:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 2**31 - 1:
            bad = lo if lo < 0 else hi
            i = int(np.flatnonzero(a == bad)[0])
            raise _errors.LabelOutOfRange(-4, "label %d of sample %d is outside [0, K)" % (bad, i))
    return np.ascontiguousarray(a, dtype=_I32), a.shape[0]


def infer_K(lab, K, W_rows=None):
    """K from the classifier's rows, the argument, or the largest label + 1."""
    if W_rows is not None:
        if K is not None and int(K) != W_rows:
            raise _errors.SizeMismatch(-3, "K = %d but W has %d rows" % (K, W_rows))
        return W_rows
    if K is not None:
        return int(K)
    if lab.size == 0:
        raise _errors.InvalidSize(-2, "no labels: K cannot be inferred (pass K=)")
    return int(lab.max()) + 1


def check_features_labels(N, d, n_labels, name="H"):
    if n_labels != N:
        hint = ""
        if n_labels == d:
            hint = ": it looks transposed (d, N); pass %s.T, one row per sample" % name
        raise _errors.SizeMismatch(-3, "%s has %d rows (samples) but labels has %d entries%s"
                                   % (name, N, n_labels, hint))


def addr(a):
    return a.ctypes.data
