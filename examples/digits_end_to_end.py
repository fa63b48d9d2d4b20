#!/usr/bin/python3
"""Neural collapse in a real network, measured with libncollapse's analyser.

Trains a small MLP on an imbalanced subset of scikit-learn's handwritten
digits (1797 8x8 images shipped inside scikit-learn) well past zero training
error, dumps the penultimate features, the classifier weight and bias with
np.save at several epochs, runs `tools/bin/ncollapse analyze` on each dump, and
prints how the NC metrics fall as training goes on.

It also computes every metric independently in NumPy, from the same files
(float64 arithmetic on the saved float32 values, the d x d covariance
matrices and their pseudo-inverse, which the library never forms), and fails
unless both agree to 1e-8 relative.

Uses Debian's packages (run it with /usr/bin/python3):
    apt-get install python3-torch python3-numpy python3-sklearn
    make tools && /usr/bin/python3 examples/digits_end_to_end.py

Deterministic: fixed seeds, one thread, deterministic algorithms. About ten
seconds on two cores.

What to expect: NC1, NC3 and NC4 fall steadily (NC1 from about 0.65 to 0.29,
NC3 from 0.37 to 0.12, NC4 to 0); the ETF distances fall less, and stay far
from 0: with ten classes whose sizes range from 150 to 20 samples, the
minority classes' means are pulled together (minority collapse), and a small
MLP trained for seconds does not reach the terminal phase of large networks.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from sklearn.datasets import load_digits

METRICS = ["nc1", "nc2_equinorm_means", "nc2_equinorm_w", "nc2_equiangle_means",
           "nc2_equiangle_w", "nc2_maxangle_means", "nc2_maxangle_w", "nc2_etf_means",
           "nc2_etf_w", "nc3", "nc3_wm_etf", "nc4", "accuracy"]


def numpy_metrics(H, y, W, b, K, rtol=1e-13):
    """Every metric of ncollapse.h, the textbook way (sample global mean,
    class-uniform between-class covariance)."""
    H = H.astype(np.float64)
    W = W.astype(np.float64)
    b = b.astype(np.float64)
    N, d = H.shape
    mu = np.stack([H[y == k].mean(axis=0) for k in range(K)])        # K x d
    muG = H.mean(axis=0)
    Mbar = (mu - muG).T                                               # d x K
    R = H - mu[y]
    Sigma_W = R.T @ R / N                                             # d x d
    Sigma_B = Mbar @ Mbar.T / K
    lam, V = np.linalg.eigh(Sigma_B)
    keep = lam > rtol * lam.max()
    pinv = (V[:, keep] / lam[keep]) @ V[:, keep].T
    out = {"nc1": float(np.trace(Sigma_W @ pinv) / K)}

    T = (np.eye(K) - np.ones((K, K)) / K) / np.sqrt(K - 1)
    iu = np.triu_indices(K, 1)

    def family(V, tag):  # V: K vectors as columns (d x K)
        norms = np.linalg.norm(V, axis=0)
        out["nc2_equinorm_" + tag] = float(norms.std(ddof=1) / norms.mean())
        C = (V / norms).T @ (V / norms)
        cos = C[iu]
        out["nc2_equiangle_" + tag] = float(cos.std(ddof=1)) if K > 2 else 0.0
        out["nc2_maxangle_" + tag] = float(np.abs(cos + 1.0 / (K - 1)).mean())
        G = V.T @ V
        out["nc2_etf_" + tag] = float(np.linalg.norm(G / np.linalg.norm(G) - T))

    family(Mbar, "means")
    family(W.T, "w")
    out["nc3"] = float(np.linalg.norm(W.T / np.linalg.norm(W) - Mbar / np.linalg.norm(Mbar)) ** 2)
    WM = W @ Mbar
    out["nc3_wm_etf"] = float(np.linalg.norm(WM / np.linalg.norm(WM) - T))
    logits = H @ W.T + b
    pred = logits.argmax(axis=1)
    dist = ((H[:, None, :] - mu[None, :, :]) ** 2).sum(axis=2)
    nearest = dist.argmin(axis=1)
    out["nc4"] = float((pred != nearest).mean())
    out["accuracy"] = float((pred == y).mean())
    return out


def rel_diff(a, b):
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(b), 1e-300)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--analyzer", default=os.path.join(here, "..", "tools", "bin", "ncollapse"),
                    help="path of the ncollapse program (default: tools/bin/ncollapse)")
    ap.add_argument("--out", help="keep the .npy dumps in this directory")
    ap.add_argument("--epochs", type=int, default=2000)
    ap.add_argument("--chunk-rows", type=int, default=128,
                    help="rows per chunk of the analyser (default 128: several chunks)")
    args = ap.parse_args()
    if not os.access(args.analyzer, os.X_OK):
        sys.exit("digits_end_to_end: %s not found: run `make tools` first" % args.analyzer)

    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rng = np.random.RandomState(0)

    # An imbalanced subset: class k keeps 150 * 0.8^k of its ~180 images.
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
    params = list(body.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()
    # From epoch 20 on: the first few steps only move a random representation.
    dumps = sorted({e for e in (20, 60, 200, 600, 1200, args.epochs) if e <= args.epochs})

    out_dir = args.out or tempfile.mkdtemp(prefix="nc_digits_")
    os.makedirs(out_dir, exist_ok=True)
    np.save(os.path.join(out_dir, "labels.npy"), y)
    print("digits: N = %d samples, K = %d classes, counts %s, MLP %d-256-128-%d-%d, "
          "full-batch SGD (lr 0.1 cosine-annealed, momentum 0.9, weight decay 1e-3), %d epochs"
          % (N, K, counts.tolist(), d_in, d, K, args.epochs))

    rows = []
    zero_error_epoch = None
    worst = 0.0
    try:
        for epoch in range(1, args.epochs + 1):
            opt.zero_grad()
            logits = head(body(Xt))
            loss = loss_fn(logits, yt)
            loss.backward()
            opt.step()
            sched.step()
            if zero_error_epoch is None:
                with torch.no_grad():
                    if (head(body(Xt)).argmax(1) == yt).all():
                        zero_error_epoch = epoch
            if epoch not in dumps:
                continue
            with torch.no_grad():
                H = body(Xt).numpy()
                train_loss = float(loss_fn(head(torch.from_numpy(H)), yt))
            W = head.weight.detach().numpy().copy()
            b = head.bias.detach().numpy().copy()
            paths = [os.path.join(out_dir, "%s_epoch%04d.npy" % (n, epoch))
                     for n in ("features", "W", "b")]
            np.save(paths[0], H)
            np.save(paths[1], W)
            np.save(paths[2], b)
            cmd = [args.analyzer, "analyze", "--json", "--chunk-rows", str(args.chunk_rows),
                   "--labels", os.path.join(out_dir, "labels.npy"), "--weights", paths[1],
                   "--bias", paths[2], paths[0]]
            res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 universal_newlines=True)
            if res.returncode != 0:
                sys.exit("digits_end_to_end: ncollapse analyze failed (%d): %s"
                         % (res.returncode, res.stderr.strip()))
            lib = json.loads(res.stdout)["snapshots"][0]
            ref = numpy_metrics(np.load(paths[0]), y, np.load(paths[1]), np.load(paths[2]), K)
            diff = 0.0
            for name in METRICS:
                if lib[name] is None:
                    sys.exit("digits_end_to_end: %s unavailable at epoch %d" % (name, epoch))
                diff = max(diff, rel_diff(lib[name], ref[name]))
            worst = max(worst, diff)
            rows.append((epoch, train_loss, lib, diff))

        cols = ["nc1", "nc2_equinorm_means", "nc2_etf_means", "nc2_etf_w", "nc3", "nc3_wm_etf",
                "nc4", "accuracy"]
        print("\n%6s %10s " % ("epoch", "loss") + " ".join("%12s" % c[:12] for c in cols)
              + " %10s" % "vs NumPy")
        for epoch, train_loss, lib, diff in rows:
            print("%6d %10.3e " % (epoch, train_loss)
                  + " ".join("%12.4e" % lib[c] for c in cols) + " %10.1e" % diff)
        print("\nzero training error first reached at epoch %s; trained to epoch %d"
              % (zero_error_epoch, args.epochs))
        print("largest relative difference between ncollapse analyze and NumPy: %.2e (tolerance 1e-8)"
              % worst)

        ok = True
        if worst > 1e-8:
            print("FAIL: the analyser and NumPy disagree")
            ok = False
        first, last = rows[0][2], rows[-1][2]
        if zero_error_epoch is None or last["accuracy"] != 1.0:
            print("FAIL: training did not reach zero training error")
            ok = False
        for name in ("nc1", "nc2_etf_means", "nc2_etf_w", "nc3", "nc3_wm_etf"):
            if not last[name] < first[name]:
                print("FAIL: %s did not fall (%.4g -> %.4g)" % (name, first[name], last[name]))
                ok = False
        if not last["nc4"] <= first["nc4"]:
            print("FAIL: nc4 did not fall")
            ok = False
        if not all(rows[i + 1][2]["nc1"] < rows[i][2]["nc1"] for i in range(len(rows) - 1)):
            print("FAIL: nc1 is not decreasing from dump to dump")
            ok = False
        print("metrics fall as training goes on: NC1 %.3g -> %.3g, NC2 (ETF, means) %.3g -> %.3g, "
              "NC3 %.3g -> %.3g, NC4 %.3g -> %.3g"
              % (first["nc1"], last["nc1"], first["nc2_etf_means"], last["nc2_etf_means"],
                 first["nc3"], last["nc3"], first["nc4"], last["nc4"]))
        print("digits_end_to_end: %s" % ("ok" if ok else "FAILED"))
        return 0 if ok else 1
    finally:
        if not args.out:
            shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
