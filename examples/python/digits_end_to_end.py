#!/usr/bin/python3
"""Neural collapse in a real network, measured in memory with the ncollapse package.

Trains a small MLP on an imbalanced subset of scikit-learn's handwritten
digits (1797 8x8 images shipped inside scikit-learn) well past zero training
error, and at several epochs measures NC of the penultimate features with
ncollapse.pytorch.EpochLogger: a forward hook on the final nn.Linear feeds
each batch's features straight into an ncollapse.Stream (two passes), with
the layer's weight and bias as the classifier. No file is written.

It also computes every metric independently in NumPy from the same features
(the d x d covariance matrices and their pseudo-inverse, which the library
never forms), and fails unless both agree to 1e-8 relative.

    apt-get install python3-torch python3-numpy python3-sklearn
    make && PYTHONPATH=python /usr/bin/python3 examples/python/digits_end_to_end.py

Deterministic: fixed seeds, one thread, deterministic algorithms. About ten
seconds on two cores. (examples/digits_end_to_end.py does the same through
.npy files and `ncollapse analyze`.)
"""
import argparse
import sys
import time

import numpy as np
import torch
from sklearn.datasets import load_digits

import ncollapse as nc
from ncollapse.pytorch import EpochLogger, classifier_arrays


def numpy_metrics(H, y, W, b, K, rtol=1e-13):
    """Every metric of ncollapse.h, the textbook way (sample global mean,
    class-uniform between-class covariance)."""
    N, d = H.shape
    mu = np.stack([H[y == k].mean(axis=0) for k in range(K)])
    muG = H.mean(axis=0)
    Mbar = (mu - muG).T
    R = H - mu[y]
    Sigma_W = R.T @ R / N
    Sigma_B = Mbar @ Mbar.T / K
    lam, V = np.linalg.eigh(Sigma_B)
    keep = lam > rtol * lam.max()
    pinv = (V[:, keep] / lam[keep]) @ V[:, keep].T
    out = {"nc1": float(np.trace(Sigma_W @ pinv) / K)}
    T = (np.eye(K) - np.ones((K, K)) / K) / np.sqrt(K - 1)
    iu = np.triu_indices(K, 1)

    def family(V, tag):
        norms = np.linalg.norm(V, axis=0)
        out["nc2_equinorm_" + tag] = float(norms.std(ddof=1) / norms.mean())
        cos = ((V / norms).T @ (V / norms))[iu]
        out["nc2_equiangle_" + tag] = float(cos.std(ddof=1))
        out["nc2_maxangle_" + tag] = float(np.abs(cos + 1.0 / (K - 1)).mean())
        G = V.T @ V
        out["nc2_etf_" + tag] = float(np.linalg.norm(G / np.linalg.norm(G) - T))

    family(Mbar, "means")
    family(W.T, "w")
    out["nc3"] = float(np.linalg.norm(W.T / np.linalg.norm(W) - Mbar / np.linalg.norm(Mbar)) ** 2)
    WM = W @ Mbar
    out["nc3_wm_etf"] = float(np.linalg.norm(WM / np.linalg.norm(WM) - T))
    pred = (H @ W.T + b).argmax(axis=1)
    nearest = ((H[:, None, :] - mu[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    out["nc4"] = float((pred != nearest).mean())
    out["accuracy"] = float((pred == y).mean())
    return out


def rel_diff(a, b):
    return 0.0 if a == b else abs(a - b) / max(abs(b), 1e-300)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=128,
                    help="batch size of the measuring passes (default 128: several batches)")
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rng = np.random.RandomState(0)

    X, y = load_digits(return_X_y=True)
    K = 10
    idx = []
    for k in range(K):
        members = rng.permutation(np.flatnonzero(y == k))
        idx.extend(members[: int(round(150 * 0.8 ** k))])
    idx = np.array(sorted(idx))
    X = X[idx].astype(np.float32)
    y = y[idx].astype(np.int64)
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1.0)
    counts = np.bincount(y, minlength=K)
    N, d_in = X.shape

    d = 32
    body = torch.nn.Sequential(
        torch.nn.Linear(d_in, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, d))
    head = torch.nn.Linear(d, K)
    net = torch.nn.Sequential(body, head)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xt, yt),
                                         batch_size=args.batch)
    loss_fn = torch.nn.CrossEntropyLoss()
    dumps = sorted({e for e in (20, 60, 200, 600, 1200, args.epochs) if e <= args.epochs})
    log = EpochLogger(net, head, loader)
    print("digits: N = %d samples, K = %d classes, counts %s, MLP %d-256-128-%d-%d, "
          "full-batch SGD (lr 0.1 cosine-annealed, momentum 0.9, weight decay 1e-3), %d epochs"
          % (N, K, counts.tolist(), d_in, d, K, args.epochs))

    zero_error_epoch = None
    worst = 0.0
    seconds = []
    for epoch in range(1, args.epochs + 1):
        net.train()
        opt.zero_grad()
        loss = loss_fn(net(Xt), yt)
        loss.backward()
        opt.step()
        sched.step()
        if zero_error_epoch is None:
            with torch.no_grad():
                if (net(Xt).argmax(1) == yt).all():
                    zero_error_epoch = epoch
        if epoch not in dumps:
            continue
        t0 = time.perf_counter()
        row = log(epoch, loss=float(loss))
        seconds.append(time.perf_counter() - t0)
        with torch.no_grad():  # the same batches: float32 products depend on the batch
            H = np.vstack([body(xb).numpy() for xb, _ in loader]).astype(np.float64)
        W, b = classifier_arrays(head)
        ref = numpy_metrics(H, y, W, b, K)
        # every metric the NumPy reference computes (the thirteen NC1-NC4 measures;
        # the large-K measures are checked against their definitions in C)
        diff = max(rel_diff(row[name], ref[name]) for name in nc.METRIC_NAMES if name in ref)
        row["vs NumPy"] = diff
        worst = max(worst, diff)

    cols = ["nc1", "nc2_equinorm_means", "nc2_etf_means", "nc2_etf_w", "nc3", "nc3_wm_etf",
            "nc4", "accuracy"]
    print("\n%6s %10s " % ("epoch", "loss") + " ".join("%12s" % c[:12] for c in cols)
          + " %10s" % "vs NumPy")
    for r in log.rows:
        print("%6d %10.3e " % (r["epoch"], r["loss"]) + " ".join("%12.4e" % r[c] for c in cols)
              + " %10.1e" % r["vs NumPy"])
    print("\nzero training error first reached at epoch %s; trained to epoch %d"
          % (zero_error_epoch, args.epochs))
    print("one measurement (two passes of the network over %d samples in batches of %d, "
          "the stream and the metrics): %.1f ms on average"
          % (N, args.batch, 1e3 * sum(seconds) / len(seconds)))
    print("largest relative difference between ncollapse and NumPy: %.2e (tolerance 1e-8)"
          % worst)

    ok = True
    if worst > 1e-8:
        print("FAIL: the package and NumPy disagree")
        ok = False
    first, last = log.rows[0], log.rows[-1]
    if zero_error_epoch is None or last["accuracy"] != 1.0:
        print("FAIL: training did not reach zero training error")
        ok = False
    for name in ("nc1", "nc2_etf_means", "nc2_etf_w", "nc3", "nc3_wm_etf"):
        if not last[name] < first[name]:
            print("FAIL: %s did not fall (%.4g -> %.4g)" % (name, first[name], last[name]))
            ok = False
    nc1 = log.column("nc1")
    if not np.all(np.diff(nc1) < 0):
        print("FAIL: nc1 is not decreasing from measurement to measurement")
        ok = False
    print("metrics fall as training goes on: NC1 %.3g -> %.3g, NC2 (ETF, means) %.3g -> %.3g, "
          "NC3 %.3g -> %.3g, NC4 %.3g -> %.3g"
          % (first["nc1"], last["nc1"], first["nc2_etf_means"], last["nc2_etf_means"],
             first["nc3"], last["nc3"], first["nc4"], last["nc4"]))
    print("digits_end_to_end: %s" % ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
