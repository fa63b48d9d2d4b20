#!/usr/bin/python3
"""pytorch_compare.py - the same UFM gradient descent in libncollapse and in
PyTorch (double precision, CPU), from the same initial W, H, b.

For each case the C helper tests/bench/bin/ufm_run creates the model, writes
its initial state (raw float64 files), runs the steps on T library threads
(OPENBLAS_NUM_THREADS=1, as docs/performance.md advises) and writes the final
state and its time per iteration. This script then runs, with
torch.set_num_threads(T) and, for the BLAS PyTorch calls (Debian's torch
uses the system OpenBLAS), openblas_set_num_threads(T):
  hand   - a hand-written gradient (the formulas of the library),
  auto   - autograd on the objective with torch.optim.SGD (param groups for
           the feature learning rate; PyTorch's momentum convention is the
           library's),
and prints the median seconds per iteration, the ratios, and the largest
relative difference ||x_lib - x_torch|| / ||x_torch|| over W, H and b after
the steps (required <= 1e-10).

PyTorch's CPU allocator returns large tensors to glibc, which maps and unmaps
them at every step; where page faults are expensive (this VM: ~10 us per
page) that alone costs PyTorch seconds per iteration at N = 50000. So that
the comparison measures arithmetic, the script re-runs itself with glibc's
mmap disabled (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_ large: freed blocks
are reused) unless --default-malloc is given, and the hand-written gradient
writes its large results into preallocated buffers.

Usage: /usr/bin/python3 tests/bench/pytorch_compare.py [--quick] [--default-malloc]
(`make bench-torch` builds the helper and runs this; needs Debian's
python3-torch and python3-numpy.)
"""
import ctypes
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
HELPER = os.path.join(HERE, "bin", "ufm_run")
LW, LH, LB = 5e-4, 5e-4, 1e-3
STEPS = 100
TOL = 1e-10

# (K, d, N, loss, threads, lr, lr_H, momentum)
CASES = [
    (4, 8, 400, "ce", 1, 0.1, 10.0, 0.9),
    (4, 8, 400, "mse", 1, 0.1, 10.0, 0.9),
    (10, 64, 5000, "ce", 1, 0.1, 50.0, 0.9),
    (10, 64, 5000, "mse", 1, 0.1, 50.0, 0.9),
    (10, 512, 50000, "ce", 1, 0.1, 500.0, 0.9),
    (10, 512, 50000, "mse", 1, 0.1, 500.0, 0.9),
    (10, 512, 50000, "ce", 2, 0.1, 500.0, 0.9),
]


def openblas():
    """The OpenBLAS instance torch uses, or None."""
    for name in ("libopenblas.so.0", "libopenblasp-r0.3.21.so", "libblas.so.3"):
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_set_num_threads
            return lib
        except (OSError, AttributeError):
            continue
    return None


def load(dirname, name, dtype, shape):
    return np.fromfile(os.path.join(dirname, name), dtype=dtype).reshape(shape)


def objective(W, H, b, y, Y, loss):
    """H is (N, d): the library's d x N column-major array as PyTorch sees it."""
    Z = H @ W.T + b
    if loss == "ce":
        data = torch.nn.functional.cross_entropy(Z, y)
    else:
        data = 0.5 * ((Z - Y) ** 2).sum(dim=1).mean()
    return data + 0.5 * LW * (W * W).sum() + 0.5 * LH * (H * H).sum() + 0.5 * LB * (b * b).sum()


def run_hand(W, H, b, y, Y, loss, steps, lr, lrH, mu):
    """Hand-written gradient and heavy-ball momentum (v = mu v + g; x -= lr v),
    with the N x K and N x d results in preallocated buffers."""
    N = H.shape[0]
    vW, vH, vb = torch.zeros_like(W), torch.zeros_like(H), torch.zeros_like(b)
    Z, G = torch.empty(N, W.shape[0]), torch.empty(N, W.shape[0])
    gW, gH = torch.empty_like(W), torch.empty_like(H)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        torch.addmm(b, H, W.T, out=Z)
        if loss == "ce":
            G.copy_(Z).sub_(Z.max(dim=1, keepdim=True).values).exp_()
            G.div_(G.sum(dim=1, keepdim=True)).sub_(Y)
        else:
            torch.sub(Z, Y, out=G)
        G.div_(N)
        torch.addmm(W, G.T, H, beta=LW, out=gW)
        torch.mm(G, W, out=gH).add_(H, alpha=LH)
        gb = G.sum(dim=0).add_(b, alpha=LB)
        vW.mul_(mu).add_(gW)
        vH.mul_(mu).add_(gH)
        vb.mul_(mu).add_(gb)
        W.sub_(vW, alpha=lr)
        H.sub_(vH, alpha=lrH)
        b.sub_(vb, alpha=lr)
        times.append(time.perf_counter() - t)
    return W, H, b, times


def run_autograd(W, H, b, y, Y, loss, steps, lr, lrH, mu):
    W, H, b = (x.clone().requires_grad_(True) for x in (W, H, b))
    opt = torch.optim.SGD([{"params": [W, b], "lr": lr}, {"params": [H], "lr": lrH}],
                          lr=lr, momentum=mu)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        f = objective(W, H, b, y, Y, loss)
        f.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return W.detach(), H.detach(), b.detach(), times


def rel(a, b):
    return float(torch.linalg.norm((a - b).reshape(-1)) / torch.linalg.norm(b.reshape(-1)))


def main():
    quick = "--quick" in sys.argv
    if "--default-malloc" not in sys.argv and os.environ.get("MALLOC_MMAP_MAX_") != "0":
        env = dict(os.environ, MALLOC_MMAP_MAX_="0", MALLOC_TRIM_THRESHOLD_="1000000000000",
                   NC_TORCH_COMPARE_MALLOC="set")
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    if not os.path.exists(HELPER):
        sys.exit("pytorch_compare.py: build the helper first: make bench-torch")
    torch.set_default_dtype(torch.float64)
    blas = openblas()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    if env.pop("NC_TORCH_COMPARE_MALLOC", None):  # the library runs with glibc's defaults
        env.pop("MALLOC_MMAP_MAX_", None)
        env.pop("MALLOC_TRIM_THRESHOLD_", None)
    print("pytorch_compare: libncollapse against PyTorch %s (double, CPU), %d GD steps with "
          "momentum from the same initial state; glibc mmap %s" %
          (torch.__version__, STEPS, "on (default)" if "--default-malloc" in sys.argv else
           "off (MALLOC_MMAP_MAX_=0)"))
    print("    K     d      N loss T    lib s/it   hand s/it   auto s/it  hand/lib  auto/lib"
          "   diff(hand)  diff(auto)")
    worst = 0.0
    for (K, d, N, loss, T, lr, lrH, mu) in CASES:
        if quick and N > 5000:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run([HELPER, tmp, str(K), str(d), str(N), loss, str(STEPS), str(T),
                                  repr(lr), repr(lrH), repr(mu)],
                                 check=True, capture_output=True, text=True, env=env).stdout
            lib_t = float(out.split("seconds_per_iteration")[1].split()[0])
            y = torch.from_numpy(load(tmp, "labels.i32", np.int32, (N,)).astype(np.int64))
            W0 = torch.from_numpy(load(tmp, "W0.f64", np.float64, (K, d)).copy())
            H0 = torch.from_numpy(load(tmp, "H0.f64", np.float64, (N, d)).copy())
            b0 = torch.from_numpy(load(tmp, "b0.f64", np.float64, (K,)).copy())
            Wl = torch.from_numpy(load(tmp, "W.f64", np.float64, (K, d)).copy())
            Hl = torch.from_numpy(load(tmp, "H.f64", np.float64, (N, d)).copy())
            bl = torch.from_numpy(load(tmp, "b.f64", np.float64, (K,)).copy())
        Y = torch.nn.functional.one_hot(y, K).to(torch.float64)
        torch.set_num_threads(T)
        if blas is not None:
            blas.openblas_set_num_threads(T)
        Wh, Hh, bh, th = run_hand(W0.clone(), H0.clone(), b0.clone(), y, Y, loss, STEPS, lr, lrH, mu)
        Wa, Ha, ba, ta = run_autograd(W0, H0, b0, y, Y, loss, STEPS, lr, lrH, mu)
        hand_t = float(np.median(th[1:]))
        auto_t = float(np.median(ta[1:]))
        dh = max(rel(Wl, Wh), rel(Hl, Hh), rel(bl, bh))
        da = max(rel(Wl, Wa), rel(Hl, Ha), rel(bl, ba))
        worst = max(worst, dh, da)
        print("%5d %5d %6d %-4s %d  %10.3e  %10.3e  %10.3e  %8.1f  %8.1f   %10.2e  %10.2e" %
              (K, d, N, loss, T, lib_t, hand_t, auto_t, hand_t / lib_t, auto_t / lib_t, dh, da))
        sys.stdout.flush()
    print("largest relative difference between the libncollapse and PyTorch iterates after %d "
          "steps: %.2e (%s <= %.0e)" % (STEPS, worst, "ok" if worst <= TOL else "FAILED", TOL))
    return 0 if worst <= TOL else 1


if __name__ == "__main__":
    sys.exit(main())
