"""Metrics and structure functions against independent NumPy computations
(the textbook definitions: d x d covariances and their pseudo-inverse, which
the library never forms) to 1e-10 relative; and the array-layout policy."""
import numpy as np
import pytest

import ncollapse as nc
from ncollapse import _arrays
from conftest import clusters, note

RTOL = 1e-10
_worst = {"rel": 0.0}


def numpy_metrics(H, y, W, b, K, global_mean="sample", between="uniform", rtol=1e-13):
    N, d = H.shape
    n = np.bincount(y, minlength=K).astype(float)
    mu = np.stack([H[y == k].mean(axis=0) for k in range(K)])
    muG = H.mean(axis=0) if global_mean == "sample" else mu.mean(axis=0)
    Mbar = (mu - muG).T
    R = H - mu[y]
    Sigma_W = R.T @ R / N
    c = np.full(K, 1.0 / K) if between == "uniform" else n / N
    Sigma_B = (Mbar * c) @ Mbar.T
    lam, V = np.linalg.eigh(Sigma_B)
    keep = lam > rtol * lam.max()
    pinv = (V[:, keep] / lam[keep]) @ V[:, keep].T
    out = {"nc1": float(np.trace(Sigma_W @ pinv) / K)}
    T = (np.eye(K) - np.ones((K, K)) / K) / np.sqrt(K - 1)
    iu = np.triu_indices(K, 1)

    def family(V, tag):
        norms = np.linalg.norm(V, axis=0)
        out["nc2_equinorm_" + tag] = float(norms.std(ddof=1) / norms.mean())
        C = (V / norms).T @ (V / norms)
        cos = C[iu]
        out["nc2_equiangle_" + tag] = float(cos.std(ddof=1)) if K > 2 else 0.0
        out["nc2_maxangle_" + tag] = float(np.abs(cos + 1.0 / (K - 1)).mean())
        G = V.T @ V
        out["nc2_etf_" + tag] = float(np.linalg.norm(G / np.linalg.norm(G) - T))

    family(Mbar, "means")
    if W is None:
        return out
    family(W.T, "w")
    out["nc3"] = float(np.linalg.norm(W.T / np.linalg.norm(W) - Mbar / np.linalg.norm(Mbar)) ** 2)
    WM = W @ Mbar
    out["nc3_wm_etf"] = float(np.linalg.norm(WM / np.linalg.norm(WM) - T))
    logits = H @ W.T + (b if b is not None else 0)
    pred = logits.argmax(axis=1)
    nearest = ((H[:, None, :] - mu[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    out["nc4"] = float((pred != nearest).mean())
    out["accuracy"] = float((pred == y).mean())
    return out


def close(a, b, rtol=RTOL):
    if a == b:
        return True
    rel = abs(a - b) / max(abs(b), 1e-300)
    _worst["rel"] = max(_worst["rel"], rel)
    return rel <= rtol


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("gm", ["sample", "class_avg"])
@pytest.mark.parametrize("bw", ["uniform", "weighted"])
def test_metrics_against_numpy(seed, gm, bw):
    H, y, W, b = clusters(N=500, d=16, K=6, seed=seed)
    ref = numpy_metrics(H, y, W, b, 6, gm, bw)
    got = nc.metrics(H, y, W, b, global_mean=gm, between=bw)
    for name, v in ref.items():
        assert close(got[name], v), (name, got[name], v)


def test_metrics_without_classifier_unavailable():
    H, y, W, b = clusters(N=200, d=8, K=3, seed=4)
    got = nc.metrics(H, y)
    ref = numpy_metrics(H, y, None, None, 3)
    # the metrics of the classifier are unavailable; the large-K measures of the
    # features alone (not in this reference) are checked in C
    needs_w = {"nc2_equinorm_w", "nc2_equiangle_w", "nc2_maxangle_w", "nc2_etf_w", "nc3",
               "nc3_wm_etf", "nc4", "accuracy", "unc3", "nc2_lognorm_w", "interference_w"}
    for name in nc.METRIC_NAMES:
        if name in ref:
            assert close(got[name], ref[name]), name
        elif name in needs_w:
            assert got[name] is None, name
    m = nc.Metrics().compute_data(H, y)
    with pytest.raises(nc.Unavailable) as e:
        m["nc3"]
    assert e.value.name == "NC_ERR_UNAVAILABLE"


def test_model_metrics_against_numpy():
    m = nc.Model(12, counts=[40, 25, 15, 8], weight_decay=(5e-4, 5e-4), init_std=0.5, seed=2,
                 bias=True)
    m.b = [0.1, -0.2, 0.05, 0.0]
    ref = numpy_metrics(m.H, m.labels, m.W, m.b, 4)
    got = m.metrics()
    for name, v in ref.items():
        assert close(got[name], v), name


def test_structure_against_numpy():
    H, y, W, b = clusters(N=300, d=10, K=5, seed=7)
    means, counts = nc.class_means(H, y)
    ref = np.stack([H[y == k].mean(axis=0) for k in range(5)])
    assert np.allclose(means, ref, rtol=1e-13, atol=1e-13)
    assert counts.tolist() == np.bincount(y).tolist()
    G = nc.gram(W, means)
    assert np.allclose(G, W @ means.T, rtol=1e-12, atol=1e-12)
    assert np.allclose(nc.gram(W), W @ W.T, rtol=1e-12, atol=1e-12)
    assert np.allclose(nc.norms(W), np.linalg.norm(W, axis=1), rtol=1e-14)
    c = nc.center(means, counts)
    assert np.allclose(c, means - (counts[:, None] * means).sum(0) / counts.sum(), atol=1e-12)
    # CDNV from its definition
    V = np.array([((H[y == k] - ref[k]) ** 2).sum(axis=1).mean() for k in range(5)])
    pairs = [(V[i] + V[j]) / (2 * np.sum((ref[i] - ref[j]) ** 2))
             for i in range(5) for j in range(i + 1, 5)]
    mean, P = nc.cdnv(H, y, pairs=True)
    assert close(mean, float(np.mean(pairs)), 1e-12)
    assert close(P[0, 1], pairs[0], 1e-12) and P[0, 0] == 0.0


def test_frames():
    E = nc.simplex_etf(7, 5)
    C = E @ E.T
    assert np.allclose(np.diag(C), 1, atol=1e-14)
    assert np.allclose(C[np.triu_indices(5, 1)], -1 / 4, atol=1e-14)
    assert nc.etf_distance(E) < 1e-14
    Q = nc.random_orthogonal(7, seed=3)
    assert np.allclose(Q.T @ Q, np.eye(7), atol=1e-13)
    R = nc.transform(Q, E)
    assert np.allclose(R, E @ Q.T, atol=1e-13)
    assert nc.etf_distance(3.0 * R) < 1e-14
    s, res, Rot = nc.align(R, E, rotation=True)
    assert abs(s - 1) < 1e-12 and res < 1e-12
    assert np.allclose(Rot @ R.T, E.T, atol=1e-12)
    O = nc.orthogonal_frame(6, 4, [1, 1, 1, 1])
    assert nc.orthogonal_distance(O) < 1e-14 and nc.etf_distance(O) > 0.1
    st = nc.minority(E, counts=[10, 10, 1, 1, 1])
    assert abs(st["cos_minor"] + 0.25) < 1e-13
    assert nc.structure_distance(C, C) == 0.0


def test_layout_policy_no_copy_and_conversions():
    H, y, W, b = clusters(N=120, d=6, K=3, seed=1)
    a, n, d, ld = _arrays.rows(H, "H")
    assert a is H and (n, d, ld) == (120, 6, 6)
    wide = np.zeros((120, 10))
    wide[:, :6] = H
    a, n, d, ld = _arrays.rows(wide[:, :6], "H")
    assert a.base is wide and ld == 10            # a row slice: strided, no copy
    lab, n = _arrays.labels(y)
    assert lab is y
    base = nc.metrics(H, y, W, b)
    assert nc.metrics(wide[:, :6], y, W, b) == base
    # converted once: float32 values, Fortran order, reversed rows, int64 labels
    H32 = H.astype(np.float32)
    assert nc.metrics(H32, y, W, b) == nc.metrics(H32.astype(np.float64), y, W, b)
    assert nc.metrics(np.asfortranarray(H), y.astype(np.int64), W, b) == base
    perm = np.arange(120)[::-1]
    assert nc.metrics(H[::-1], y[::-1], W, b) == nc.metrics(H[perm].copy(), y[perm].copy(), W, b)


def test_zz_report():
    assert _worst["rel"] < RTOL
    note("metrics against an independent NumPy computation: largest relative difference %.1e "
         "(tolerance %.0e)" % (_worst["rel"], RTOL))
