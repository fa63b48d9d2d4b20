"""Shared fixtures of the Python package's tests (run by `make check`, or
`make check-python`, or `PYTHONPATH=python /usr/bin/python3 -m pytest tests/python`)."""
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir))
if os.path.join(ROOT, "python") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "python"))

NOTES = []


def note(text):
    """A measured number, printed after the summary as "ncollapse: NOTE: ..."."""
    NOTES.append(text)


def pytest_terminal_summary(terminalreporter):
    for n in NOTES:
        terminalreporter.write_line("ncollapse: NOTE: " + n)


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """Run tests/python/reference.c (built here against the tree's static
    library, so it is independent of ctypes): reference(cmd, key=value...)."""
    exe = str(tmp_path_factory.mktemp("reference") / "reference")
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-I" + os.path.join(ROOT, "include"),
           os.path.join(ROOT, "tests", "python", "reference.c"),
           os.path.join(ROOT, "lib", "libncollapse.a"), "-llapacke", "-lopenblas", "-lm",
           "-pthread", "-o", exe]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True)
    assert res.returncode == 0, "building the C reference failed:\n" + res.stdout

    def run(command, **kw):
        args = [exe, command] + ["%s=%s" % (k, v) for k, v in kw.items()]
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        assert r.returncode == 0, "reference %s failed: %s" % (command, r.stderr)
        return r.stdout
    return run


def same_bits(a, b):
    """Equal bit for bit (NaN equal to NaN of the same payload)."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    return a.shape == b.shape and a.view(np.uint64).tolist() == b.view(np.uint64).tolist()


def clusters(N=300, d=12, K=4, seed=0, imbalance=True, spread=1.0):
    """Features around K random means with imbalanced counts; (H, y, W, b)."""
    rng = np.random.default_rng(seed)
    if imbalance:
        p = np.array([2.0 ** -k for k in range(K)])
        counts = np.maximum(2, np.round(N * p / p.sum())).astype(int)
    else:
        counts = np.full(K, N // K)
    y = np.repeat(np.arange(K), counts).astype(np.int32)
    rng.shuffle(y)
    M = 3 * rng.normal(size=(K, d))
    H = M[y] + spread * rng.normal(size=(len(y), d))
    W = M + 0.5 * rng.normal(size=(K, d))
    b = 0.1 * rng.normal(size=K)
    return H, y, W, b
