"""Loading the library: the search order, the ABI and version checks, and the
prototypes declared against the header."""
import os
import re
import subprocess
import sys


import ncollapse as nc
from ncollapse import _enums, _lib
from conftest import ROOT

HEADER = os.path.join(ROOT, "include", "ncollapse.h")
TREE_LIB = os.path.join(ROOT, "lib", "libncollapse.so.0")


def header_prototypes():
    src = re.sub(r"/\*.*?\*/", "", open(HEADER).read(), flags=re.S)
    return [" ".join(d.split()) for d in re.findall(r"NC_API\s+([^;]*?\));", src, flags=re.S)]


def test_every_public_function_declared_once_as_in_the_header():
    mine = [" ".join(line.split()).rstrip(";") for line in _lib.PROTOTYPES.strip().splitlines()]
    assert len(mine) == len(set(mine))
    assert sorted(mine) == sorted(header_prototypes())
    for name, res, args in _lib.parse_prototypes():
        f = getattr(_lib, name)
        assert f.restype is res and f.argtypes == args


def test_version_and_soname():
    text = open(HEADER).read()
    version = re.search(r'#define NC_VERSION_STRING "(.*)"', text).group(1)
    assert nc.__version__ == version == nc.library_version()[0]
    assert _lib.read_soname(nc.library_path) == "libncollapse.so.0"


def test_enums_match_the_library():
    for m in nc.Metric:
        assert _lib.text(_lib.nc_metric_name(m)) == m.name.lower()
    assert [_lib.text(_lib.nc_point_name(p)) for p in nc.Point] == [
        "not stationary", "strict saddle", "local minimum", "inconclusive"]
    for v in nc.Verdict:
        assert _lib.text(_lib.nc_verdict_name(v)).replace(" the ", " ").replace(" ", "_") \
            == v.name.lower()
    for t in nc.NpyDtype:
        assert _lib.text(_lib.nc_npy_dtype_name(t)) == t.name.lower()
    text = open(HEADER).read()
    for cls, prefix in ((_enums.Loss, "NC_LOSS_"), (_enums.Algorithm, "NC_OPT_"),
                        (_enums.PredictionKind, "NC_PREDICT_"), (_enums.Escape, "NC_ESCAPE_"),
                        (_enums.Comparison, "NC_COMPARE_"), (_enums.MinorityStat, "NC_MINORITY_"),
                        (_enums.Schedule, "NC_SCHEDULE_"), (_enums.Block, "NC_BLOCK_")):
        for m in cls:
            assert re.search(r"\b%s%s\b,?\s*=?\s*%d\b" % (prefix, m.name, m.value), text) or \
                re.search(r"X\(%s%s, %d," % (prefix, m.name, m.value), text), (cls, m)


def _import(env_extra, cwd=None):
    env = dict(os.environ)
    env.pop("NCOLLAPSE_LIBRARY", None)
    env.update(env_extra)
    code = "import ncollapse as nc; print(nc.library_found_by); print(nc.library_path)"
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd or ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def test_search_order(tmp_path):
    r = _import({"PYTHONPATH": os.path.join(ROOT, "python")})
    assert r.returncode == 0 and r.stdout.split("\n")[0] == "the build tree"
    r = _import({"PYTHONPATH": os.path.join(ROOT, "python"), "NCOLLAPSE_LIBRARY": TREE_LIB})
    assert r.returncode == 0 and r.stdout.split("\n")[0] == "NCOLLAPSE_LIBRARY"
    r = _import({"PYTHONPATH": os.path.join(ROOT, "python"),
                 "NCOLLAPSE_LIBRARY": str(tmp_path / "nothing.so")})
    assert r.returncode != 0 and "nothing.so" in r.stderr and "ImportError" in r.stderr


def _stub(tmp_path, soname, version):
    src = tmp_path / "stub.c"
    src.write_text("unsigned nc_version_number(void) { return %d; }\n" % version)
    out = tmp_path / ("stub_%s_%d.so" % (soname, version))
    r = subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-Wl,-soname," + soname,
                        str(src), "-o", str(out)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    assert r.returncode == 0, r.stdout
    return str(out)


def test_wrong_abi_or_version_refused(tmp_path):
    pp = {"PYTHONPATH": os.path.join(ROOT, "python")}
    r = _import(dict(pp, NCOLLAPSE_LIBRARY=_stub(tmp_path, "libncollapse.so.1", 10000)))
    assert r.returncode != 0 and "SONAME libncollapse.so.1" in r.stderr
    r = _import(dict(pp, NCOLLAPSE_LIBRARY=_stub(tmp_path, "libncollapse.so.0", 1)))
    assert r.returncode != 0 and "version 0.0.1" in r.stderr
    # the right SONAME and version but missing functions: named in the error
    r = _import(dict(pp, NCOLLAPSE_LIBRARY=_stub(tmp_path, "libncollapse.so.0", 100)))
    assert r.returncode != 0 and "lacks nc_strerror" in r.stderr


def test_install_and_uninstall(tmp_path):
    # the package alone, installed against the tree's library (LIBDIR), imported
    # from outside the tree, then removed
    prefix = tmp_path / "prefix"
    args = ["make", "--no-print-directory", "-C", ROOT, "PREFIX=%s" % prefix,
            "LIBDIR=%s" % os.path.join(ROOT, "lib")]
    r = subprocess.run(args + ["install-python"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    assert r.returncode == 0, r.stdout
    # the default PYTHONDIR for a prefix other than /usr: lib/python3.X/dist-packages
    site = prefix / "lib" / ("python%d.%d" % sys.version_info[:2]) / "dist-packages"
    assert (site / "ncollapse" / "_config.py").exists()
    r = _import({"PYTHONPATH": str(site)}, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    found, path = r.stdout.split("\n")[:2]
    assert found == "the installed library" and path == os.path.realpath(TREE_LIB)
    r = subprocess.run(args + ["uninstall-python"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    assert r.returncode == 0 and not (site / "ncollapse").exists()
