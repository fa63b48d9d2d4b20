#!/usr/bin/python3
"""The numbers of `ncollapse analyze` (streamed) against independent routes.

    analyze_reference.py make DIR         write a data set to DIR: F.npy (float32,
                                          C order), L.npy, W.npy, b.npy, and the
                                          same rows in three shards F0..F2 / L0..L2
                                          (shard 1 float64 Fortran order, int32),
                                          and files for the error messages
    analyze_reference.py split DIR P      F.npy and L.npy in P shards Fp<P>_<i>.npy
    analyze_reference.py check DIR OUT.json [TOL] [--classes-only]
                                          compare the first snapshot of OUT.json
                                          with NumPy and with the library's
                                          in-memory nc_metrics_compute_data
    analyze_reference.py same A.json B.json TOL
                                          the numbers of two outputs agree to TOL

The NumPy reference works in float64 on the float32 values the files hold:
class counts, centred class-mean norms, within-class variances, classifier
norms, accuracies (per class and overall), NC1 (with the pseudo-inverse of
Sigma_B), the trace ratio, NC3, NC4, the mean CDNV, and the minority-collapse
indicators of the classifier rows and of the centred class means (minority:
n_k < sqrt(max n min n)). Every metric is also compared with the in-memory
computation of the library (the package's nc_metrics_compute_data, the route
`ncollapse analyze` took before it streamed). Prints the largest relative
difference; exits 1 beyond TOL (default 1e-12).
"""
import json
import os
import sys

import numpy as np


def make(out):
    rng = np.random.RandomState(1)
    N, d, K = 3000, 12, 6
    share = np.array([0.35, 0.25, 0.15, 0.12, 0.08, 0.05])
    y = rng.choice(K, size=N, p=share).astype(np.int64)
    M = 3.0 * rng.randn(K, d) + 5.0  # far from the origin: centring matters
    H = (M[y] + rng.randn(N, d)).astype(np.float32)
    W = (M + 0.3 * rng.randn(K, d)).astype(np.float32)
    b = (0.1 * rng.randn(K)).astype(np.float32)
    np.save(os.path.join(out, "F.npy"), H)
    np.save(os.path.join(out, "L.npy"), y)
    np.save(os.path.join(out, "W.npy"), W)
    np.save(os.path.join(out, "b.npy"), b)
    cuts = [0, 1000, 2100, N]
    for i in range(3):
        h = H[cuts[i]:cuts[i + 1]]
        lab = y[cuts[i]:cuts[i + 1]]
        if i == 1:
            h = np.asfortranarray(h.astype(np.float64))
            lab = lab.astype(np.int32)
        np.save(os.path.join(out, "F%d.npy" % i), h)
        np.save(os.path.join(out, "L%d.npy" % i), lab)
    # shard 2's labels with row 17 (sample 2117) out of range for K = 6
    lab = y[cuts[2]:].copy()
    lab[17] = 9
    np.save(os.path.join(out, "L2x.npy"), lab)
    # no sample of class 3 (relabelled 5): K inferred as 6 with an empty class
    np.save(os.path.join(out, "Lgap.npy"), np.where(y == 3, 5, y))
    # another d, and integer features
    np.save(os.path.join(out, "Fd5.npy"), H[:500, :5])
    np.save(os.path.join(out, "Ld5.npy"), y[:500])
    np.save(os.path.join(out, "Lzero.npy"), np.zeros(500, dtype=np.int64))
    np.save(os.path.join(out, "Fint.npy"), np.ones((10, 3), dtype=np.int32))


def split(out, parts):
    """F.npy and L.npy in `parts` consecutive shards Fp<parts>_<i>.npy, Lp<parts>_<i>.npy."""
    H = np.load(os.path.join(out, "F.npy"))
    y = np.load(os.path.join(out, "L.npy"))
    for i, idx in enumerate(np.array_split(np.arange(len(y)), parts)):
        np.save(os.path.join(out, "Fp%d_%d.npy" % (parts, i)), H[idx])
        np.save(os.path.join(out, "Lp%d_%d.npy" % (parts, i)), y[idx])


def minority_stats(A, minority):
    """Mean cosine over majority pairs, minority pairs, across; spread."""
    U = A / np.linalg.norm(A, axis=1, keepdims=True)
    C = U @ U.T
    K = len(A)
    maj = [k for k in range(K) if not minority[k]]
    mino = [k for k in range(K) if minority[k]]
    def pairs(a, b, same):
        v = [C[i, j] for i in a for j in b if (not same or i < j)]
        return np.mean(v) if v else np.nan
    spread = max(np.linalg.norm(A[i] - A[j]) for i in mino for j in mino) / np.linalg.norm(A, axis=1).max()
    return [pairs(maj, maj, True), pairs(mino, mino, True), pairs(maj, mino, False), spread]


def reference(d_dir):
    H = np.load(os.path.join(d_dir, "F.npy")).astype(np.float64)
    y = np.load(os.path.join(d_dir, "L.npy"))
    W = np.load(os.path.join(d_dir, "W.npy")).astype(np.float64)
    b = np.load(os.path.join(d_dir, "b.npy")).astype(np.float64)
    N, d = H.shape
    K = W.shape[0]
    n = np.bincount(y, minlength=K).astype(np.float64)
    mu = np.array([H[y == k].mean(axis=0) for k in range(K)])
    muG = H.mean(axis=0)
    Mc = mu - muG
    R = H - mu[y]
    V = np.array([(R[y == k] ** 2).sum() / n[k] for k in range(K)])
    Sw = R.T @ R / N
    Sb = Mc.T @ Mc / K
    Z = H @ W.T + b
    pred = Z.argmax(axis=1)
    near = ((H[:, None, :] - mu[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    cd = [(V[i] + V[j]) / (2 * ((mu[i] - mu[j]) ** 2).sum()) for i in range(K) for j in range(i + 1, K)]
    Wn = W / np.linalg.norm(W)
    Mn = Mc.T / np.linalg.norm(Mc)
    minority = n < np.sqrt(n.max() * n.min())
    ref = {
        "nc1": np.trace(Sw @ np.linalg.pinv(Sb, rcond=1e-13)) / K,
        "nc1_trace_ratio": np.trace(Sw) / np.trace(Sb),
        "nc3": ((Wn.T - Mn) ** 2).sum(),
        "nc4": float(np.mean(pred != near)),
        "accuracy": float(np.mean(pred == y)),
        "cdnv": np.mean(cd),
        "nc1_cdnv_mean": np.mean(cd),
    }
    hs = minority_stats(Mc, minority)
    ws = minority_stats(W, minority)
    for i, nm in enumerate(["cos_major", "cos_minor", "cos_across", "spread"]):
        ref["h_" + nm] = hs[i]
        ref["w_" + nm] = ws[i]
    classes = {
        "n": n,
        "mean_norm": np.linalg.norm(Mc, axis=1),
        "classifier_norm": np.linalg.norm(W, axis=1),
        "variance": V,
        "accuracy": np.array([np.mean(pred[y == k] == k) for k in range(K)]),
    }
    inmem = None
    try:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
        import ncollapse
        inmem = ncollapse.metrics(H, y.astype(np.int32), W, b)
    except Exception as e:  # the package or its library missing: NumPy alone
        print("analyze_reference: NOTE: no in-memory comparison (%s)" % e)
    return ref, classes, inmem


def rel(a, b):
    if a is None or b is None:
        return 0.0 if a is None and b is None else np.inf
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def check(d_dir, out, tol):
    snap = json.load(open(out))["snapshots"][0]
    ref, classes, inmem = reference(d_dir)
    worst, where = 0.0, ""
    for k, v in ref.items():
        r = rel(snap[k], float(v))
        if r > worst:
            worst, where = r, k
    for k, v in classes.items():
        got = np.array([c[k] for c in snap["classes"]], dtype=np.float64)
        r = max(rel(float(a), float(b)) for a, b in zip(got, v))
        if r > worst:
            worst, where = r, "classes." + k
    print("analyze vs NumPy: largest relative difference %.3g (%s)" % (worst, where))
    w2, where2 = 0.0, ""
    if inmem is not None:
        for k, v in inmem.items():
            r = rel(snap[k], v)
            if r > w2:
                w2, where2 = r, k
        print("analyze vs in-memory nc_metrics_compute_data: largest relative difference %.3g (%s), %d metrics"
              % (w2, where2, len(inmem)))
    return 0 if max(worst, w2) <= tol else 1


def numbers(x, path=""):
    if isinstance(x, dict):
        for k in sorted(x):
            if k not in ("source", "shards"):
                yield from numbers(x[k], path + "." + k)
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from numbers(v, "%s[%d]" % (path, i))
    elif isinstance(x, (int, float)) or x is None:
        yield path, x


def same(a, b, tol):
    A = dict(numbers(json.load(open(a))))
    B = dict(numbers(json.load(open(b))))
    if A.keys() != B.keys():
        print("analyze_reference: the outputs have different fields")
        return 1
    worst, where = 0.0, ""
    for k in A:
        r = rel(A[k], B[k])
        if r > worst:
            worst, where = r, k
    print("largest relative difference %.3g (%s) over %d numbers" % (worst, where, len(A)))
    return 0 if worst <= tol else 1


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "make":
        make(sys.argv[2])
        sys.exit(0)
    if len(sys.argv) == 4 and sys.argv[1] == "split":
        split(sys.argv[2], int(sys.argv[3]))
        sys.exit(0)
    if len(sys.argv) >= 4 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 1e-12))
    if len(sys.argv) == 5 and sys.argv[1] == "same":
        sys.exit(same(sys.argv[2], sys.argv[3], float(sys.argv[4])))
    sys.exit(__doc__)
