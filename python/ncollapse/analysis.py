"""Frames, alignment and structure metrics (nc_frame_*, nc_structure_*).

A frame is K vectors in R^d given as a (K, d) array whose row k is vector k:
the same memory as the library's d x K column-major frame, and the layout of
a classifier W (``nn.Linear(d, K).weight``) and of class means stacked as
rows. Frames are passed without a copy when float64 with contiguous rows,
converted once otherwise. d x d matrices (rotations) and K x K results
(Grams) are returned as arrays with their mathematical indexing (Fortran
order in memory, as the library writes them). These functions hold no
handle and may run concurrently from several threads.
"""
import ctypes

import numpy as np

from . import _arrays, _errors, _lib
from ._enums import MinorityStat

_byref = ctypes.byref


def _chk(st, what):
    if st < 0:
        raise _errors.error(st, "%s: %s" % (what, _lib.text(_lib.nc_strerror(st))))
    return st


def _frame(A, name="frame"):
    a, K, d, ld = _arrays.rows(A, name, shape_hint="(K, d)")
    return a, K, d, ld


def simplex_etf(d, K):
    """A simplex ETF of K unit vectors in R^d (d >= K - 1), as (K, d)."""
    out = np.empty((K, d))
    _chk(_lib.nc_frame_simplex_etf(d, K, _arrays.addr(out), d), "simplex_etf(d=%d, K=%d)" % (d, K))
    return out


def orthogonal_frame(d, K, lengths=None):
    """Vectors lengths[k] e_k (all 1 by default), as (K, d); d >= K."""
    lp = None
    if lengths is not None:
        la = _arrays.vector(lengths, "lengths", K)
        lp = _arrays.addr(la)
    out = np.empty((K, d))
    _chk(_lib.nc_frame_orthogonal(d, K, lp, _arrays.addr(out), d), "orthogonal_frame")
    return out


def random_orthogonal(d, p=None, seed=1):
    """A Haar-random (d, p) matrix with orthonormal columns (p = d: a rotation)."""
    p = d if p is None else p
    out = np.empty((d, p), order="F")
    _chk(_lib.nc_frame_random_orthogonal(d, p, int(seed), _arrays.addr(out), d),
         "random_orthogonal(d=%d, p=%d)" % (d, p))
    return out


def _square(Q, d, name):
    q = np.asfortranarray(Q, dtype=np.float64)
    if q.shape != (d, d):
        raise _errors.SizeMismatch(-3, "%s has shape %s; (%d, %d) is needed"
                                   % (name, np.shape(Q), d, d))
    return q


def transform(Q, A):
    """Q applied to every vector of frame A: a new (K, d) frame (rows Q a_k)."""
    a, K, d, ld = _frame(A)
    out = np.array(a, copy=True, order="C")
    q = _square(Q, d, "Q")
    _chk(_lib.nc_frame_transform(d, K, _arrays.addr(q), d, _arrays.addr(out), d), "transform")
    return out


def center(A, counts=None):
    """A minus its mean vector: the plain mean (counts None: the centre of
    an ETF) or the count-weighted one (the sample mean)."""
    a, K, d, ld = _frame(A)
    cp = None
    if counts is not None:
        c = np.ascontiguousarray(counts, dtype=np.uintp)
        if c.shape != (K,):
            raise _errors.SizeMismatch(-3, "counts has shape %s; (%d,) is needed" % (c.shape, K))
        cp = _arrays.addr(c)
    out = np.empty((K, d))
    _chk(_lib.nc_frame_center(d, K, _arrays.addr(a), ld, cp, _arrays.addr(out), d), "center")
    return out


def norms(A):
    """The K vector norms."""
    a, K, d, ld = _frame(A)
    out = np.empty(K)
    _chk(_lib.nc_frame_norms(d, K, _arrays.addr(a), ld, _arrays.addr(out)), "norms")
    return out


def align(A, T, rotation=False):
    """Orthogonal Procrustes with scale: (scale, residual) minimising
    ||s R A - T||_F over rotations R, for frames A and T of the same shape;
    with rotation=True also R as a (d, d) array: (scale, residual, R)."""
    a, K, d, lda = _frame(A, "A")
    t, K2, d2, ldt = _frame(T, "T")
    if (K, d) != (K2, d2):
        raise _errors.SizeMismatch(-3, "A is (%d, %d) but T is (%d, %d)" % (K, d, K2, d2))
    s, r = ctypes.c_double(), ctypes.c_double()
    R = np.empty((d, d), order="F") if rotation else None
    _chk(_lib.nc_frame_align(d, K, _arrays.addr(a), lda, _arrays.addr(t), ldt,
                             None if R is None else _arrays.addr(R), d, _byref(s), _byref(r)),
         "align")
    return (s.value, r.value, R) if rotation else (s.value, r.value)


def etf_distance(A):
    """Relative distance of the frame to the nearest simplex ETF (centred at 0)."""
    a, K, d, ld = _frame(A)
    v = ctypes.c_double()
    _chk(_lib.nc_frame_etf_distance(d, K, _arrays.addr(a), ld, _byref(v)), "etf_distance")
    return v.value


def orthogonal_distance(A):
    """Relative distance to the nearest orthogonal frame of equal lengths."""
    a, K, d, ld = _frame(A)
    v = ctypes.c_double()
    _chk(_lib.nc_frame_orthogonal_distance(d, K, _arrays.addr(a), ld, _byref(v)),
         "orthogonal_distance")
    return v.value


def class_means(H, labels, K=None):
    """(means (K, d), counts (K,)) of features H (N, d)."""
    h, N, d, ldh = _arrays.rows(H, "H")
    lab, n = _arrays.labels(labels)
    _arrays.check_features_labels(N, d, n)
    K = _arrays.infer_K(lab, K)
    out = np.empty((K, d))
    c = np.empty(K, dtype=np.uintp)
    _chk(_lib.nc_structure_class_means(d, K, N, _arrays.addr(h), ldh, _arrays.addr(lab),
                                       _arrays.addr(out), d, _arrays.addr(c)), "class_means")
    return out, c.astype(np.int64)


def gram(A, B=None):
    """G = A^T B for frames: G[j, k] = a_j . b_k (B None: A's own Gram)."""
    a, K, d, lda = _frame(A, "A")
    bp, ldb = None, d
    if B is not None:
        b, K2, d2, ldb = _frame(B, "B")
        if (K2, d2) != (K, d):
            raise _errors.SizeMismatch(-3, "A is (%d, %d) but B is (%d, %d)" % (K, d, K2, d2))
        bp = _arrays.addr(b)
    out = np.empty((K, K), order="F")
    _chk(_lib.nc_structure_gram(d, K, _arrays.addr(a), lda, bp, ldb, _arrays.addr(out), K),
         "gram")
    return out


def structure_distance(A, T):
    """|| A/||A||_F - T/||T||_F ||_F for K x K matrices."""
    a = np.asfortranarray(A, dtype=np.float64)
    t = np.asfortranarray(T, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape != t.shape:
        raise _errors.SizeMismatch(-3, "A %s and T %s must be the same K x K shape"
                                   % (a.shape, t.shape))
    K = a.shape[0]
    v = ctypes.c_double()
    _chk(_lib.nc_structure_distance(K, _arrays.addr(a), K, _arrays.addr(t), K, _byref(v)),
         "structure_distance")
    return v.value


def minority(A, minority=None, counts=None):
    """Minority-collapse indicators of a frame as a dict (cos_major,
    cos_minor, cos_across, spread; NaN for a group of < 2 classes). Groups:
    ``minority`` (K booleans) or ``counts`` (minority: n_k < max n)."""
    a, K, d, ld = _frame(A)
    mp = cp = None
    if minority is not None:
        m = np.ascontiguousarray(np.asarray(minority).astype(bool), dtype=np.intc)
        if m.shape != (K,):
            raise _errors.SizeMismatch(-3, "minority has shape %s; (%d,) is needed"
                                       % (m.shape, K))
        mp = _arrays.addr(m)
    elif counts is not None:
        c = np.ascontiguousarray(counts, dtype=np.uintp)
        if c.shape != (K,):
            raise _errors.SizeMismatch(-3, "counts has shape %s; (%d,) is needed" % (c.shape, K))
        cp = _arrays.addr(c)
    else:
        raise _errors.InvalidValue(-7, "give minority or counts")
    out = np.empty(len(MinorityStat))
    _chk(_lib.nc_structure_minority(d, K, _arrays.addr(a), ld, mp, cp, _arrays.addr(out)),
         "minority")
    return {s.name.lower(): float(out[s]) for s in MinorityStat}


def cdnv(H, labels, K=None, pairs=False):
    """Class-distance normalised variance (Galanti et al. 2022): the mean over
    pairs, and with pairs=True also the (K, K) matrix."""
    h, N, d, ldh = _arrays.rows(H, "H")
    lab, n = _arrays.labels(labels)
    _arrays.check_features_labels(N, d, n)
    K = _arrays.infer_K(lab, K)
    mean = ctypes.c_double()
    P = np.empty((K, K), order="F") if pairs else None
    _chk(_lib.nc_structure_cdnv(d, K, N, _arrays.addr(h), ldh, _arrays.addr(lab), _byref(mean),
                                None if P is None else _arrays.addr(P), K), "cdnv")
    return (mean.value, P) if pairs else mean.value
