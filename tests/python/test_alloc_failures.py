"""Every allocation of the library failed in turn, seen through the package.

The scenario (alloc_scenario.py) runs in a process of its own against the
test-only library lib/alloc-test/libncollapse.so.0 (built by `make check`,
or `make lib/alloc-test/libncollapse.so.0`): the library's objects with
malloc, calloc and realloc wrapped and a failure trigger exported
(tests/alloc_wrap.c). Every failure must raise the package's exception with
the library's message and its retry must succeed; only saves may absorb a
failure. A crash of that process fails the test with the allocation it
was at.
"""
import ctypes
import json
import os
import subprocess
import sys
import tempfile

import pytest

from conftest import ROOT, note

TEST_LIB = os.path.join(ROOT, "lib", "alloc-test", "libncollapse.so.0")
LIB = os.path.join(ROOT, "lib", "libncollapse.so.0")


def test_the_library_has_no_failure_trigger():
    """The trigger exists only in the test build."""
    lib = ctypes.CDLL(LIB)
    for name in ("nc_test_fail_alloc", "nc_test_alloc_count", "nc_test_alloc_failed"):
        assert not hasattr(lib, name), "%s is exported by %s" % (name, LIB)


@pytest.mark.skipif(not os.path.exists(TEST_LIB),
                    reason="no %s (make lib/alloc-test/libncollapse.so.0)" % TEST_LIB)
def test_every_allocation_failed_in_turn():
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # saves cost no fsync
    with tempfile.TemporaryDirectory(dir=base) as work:
        env = dict(os.environ, NCOLLAPSE_LIBRARY=TEST_LIB, OPENBLAS_NUM_THREADS="1",
                   PYTHONPATH=os.path.join(ROOT, "python"))
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "python",
                                                         "alloc_scenario.py"), work],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           universal_newlines=True, timeout=600)
        leftovers = [f for f in os.listdir(work) if ".tmp" in f]
    last = r.stderr.strip().splitlines()[-3:]
    assert r.returncode == 0, "the scenario ended with status %d; stderr ends:\n%s" % (
        r.returncode, "\n".join(last))
    out = json.loads(r.stdout.strip().splitlines()[-1])
    note("allocation failures through the package: %d points, %d raised %s and retried, "
         "%d absorbed by saves, %d bad" % (out["points"], out["refused"],
                                           out["by_exception"], out["absorbed"], out["bad"]))
    assert out["bad"] == 0, out["first_bad"]
    assert out["points"] > 100
    assert out["refused"] + out["absorbed"] == out["points"]
    assert not leftovers, "temporary files left: %r" % leftovers
