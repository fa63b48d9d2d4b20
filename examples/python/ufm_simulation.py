#!/usr/bin/python3
"""Neural collapse in the unconstrained feature model, with a figure.

Runs Dang et al. 2023's imbalanced UFM (K = 4 classes of n = (200, 100, 50,
50) samples, d = 64, MSE without bias, lambda_W = lambda_H = 5e-4, gradient
descent with learning rate 0.1 and momentum 0.9 from N(0, 0.1^2)) at depth 1
and depth 3 through the ncollapse package, records the metrics history of
each run at every layer (nc_history), compares the states with the
closed-form optimum built from each model (nc_prediction_create_from_model)
from a progress callback, and draws NC metrics and the distances to the
prediction over the steps into a PNG (matplotlib, Agg backend).

    make && PYTHONPATH=python /usr/bin/python3 examples/python/ufm_simulation.py
    (--short: 3000 steps instead of 30000; --out FILE: the figure, default ufm_nc.png)

Needs Debian's python3-numpy and python3-matplotlib. About 10 s (short: 1 s).
"""
import argparse
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import ncollapse as nc  # noqa: E402


def run(depth, steps, every):
    m = nc.Model(64, counts=[200, 100, 50, 50], loss="mse", depth=depth,
                 weight_decay=(5e-4, 5e-4), init_std=0.1, seed=1)
    p = nc.Prediction.from_model(m)
    o = nc.Optimizer(m, "gd", lr=0.1, momentum=0.9, max_iterations=steps, prediction=p)
    h = o.record(every)
    # the distances to the predicted Gram matrices, measured by a progress callback
    dist = []

    def progress(model, step, objective, gradient_norm):
        c = p.compare(model)
        dist.append((step, c["classifier_gram"], c["feature_gram"], c["logits"]))
    o.set_callback(progress, every)
    reason = o.run()
    return m, o, h, p, reason, np.array(dist)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true", help="3000 steps instead of 30000")
    ap.add_argument("--out", default="ufm_nc.png", help="the figure (PNG)")
    args = ap.parse_args()
    steps = 3000 if args.short else 30000
    every = steps // 100

    runs = {}
    for depth in (1, 3):
        m, o, h, p, reason, dist = run(depth, steps, every)
        cmp = o.stop_verdict()
        runs[depth] = (m, o, h.to_numpy(), p, dist)
        print("depth %d: %s; F = %.10f, F* = %.10f (gap %.1e), verdict: %s"
              % (depth, reason.name.lower(), cmp["objective"], cmp["predicted_objective"],
                 cmp["objective_gap"], cmp["verdict_name"]))
        print("         NC1 per layer at the end: %s" % ", ".join(
            "%.2e" % v for v in h.to_numpy()["nc1"][-1]))

    fig, ax = plt.subplots(2, 2, figsize=(10, 7.5), constrained_layout=True)
    styles = {1: dict(color="tab:blue"), 3: dict(color="tab:red")}
    for depth, (m, o, a, p, dist) in runs.items():
        step = a["step"]
        gap = (a["objective"] - p.objective) / abs(p.objective)
        ax[0, 0].semilogy(step[1:], np.maximum(gap[1:], 1e-16), label="depth %d" % depth,
                          **styles[depth])
        for layer in range(depth):
            ax[0, 1].semilogy(step[1:], a["nc1"][1:, layer], alpha=1.0 - 0.25 * layer,
                              ls=["-", "--", ":"][layer],
                              label="depth %d, layer %d" % (depth, layer), **styles[depth])
        ax[1, 0].semilogy(dist[:, 0], dist[:, 1], label="depth %d: P P^T" % depth,
                          **styles[depth])
        ax[1, 0].semilogy(dist[:, 0], dist[:, 2], ls="--", label="depth %d: Hbar^T Hbar" % depth,
                          **styles[depth])
        ax[1, 1].plot(step[1:], a["nc2_etf_means"][1:, 0], label="depth %d: NC2 (ETF, means)"
                      % depth, **styles[depth])
        ax[1, 1].plot(step[1:], a["nc3"][1:, 0], ls="--", label="depth %d: NC3" % depth,
                      **styles[depth])
    ax[0, 0].set_title("objective: (F - F*) / |F*|, F* the closed form")
    ax[0, 1].set_title("NC1 = tr(Sigma_W Sigma_B^+)/K at each layer")
    ax[1, 0].set_title("relative distance of the Grams to the predicted ones")
    ax[1, 1].set_title("NC2, NC3 stay > 0: no ETF under imbalance")
    for a in ax.flat:
        a.set_xlabel("step")
        a.grid(True, which="major", alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle("Imbalanced UFM (K = 4, n = 200/100/50/50, d = 64, MSE, lambda = 5e-4), "
                 "GD + momentum", fontsize=11)
    fig.savefig(args.out, dpi=110)
    print("figure: %s" % args.out)

    ok = True
    for depth, (m, o, a, p, dist) in runs.items():
        if not a["nc1"][-1, 0] < 1e-3 * a["nc1"][1, 0]:
            print("FAIL: NC1 did not fall at depth %d" % depth)
            ok = False
        if not args.short and o.stop_verdict()["verdict"] is not nc.Verdict.OPTIMUM:
            print("FAIL: depth %d did not reach the prediction" % depth)
            ok = False
    print("ufm_simulation: %s" % ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
