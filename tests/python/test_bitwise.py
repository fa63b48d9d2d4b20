"""Results through the package equal the C API's on the same input, bit for
bit (the C side is tests/python/reference.c, linked to the static library)."""
import csv

import numpy as np
import pytest

import ncollapse as nc
from conftest import clusters, note, same_bits

COUNTS = [30, 20, 10, 6]

RUNS = [
    dict(algorithm="gd", momentum=0.9, lr=0.1, lr_h=2.0, steps=200),
    dict(algorithm="nesterov", lr=0.05, steps=150),
    dict(algorithm="adam", lr=0.01, steps=150, bias=1, lb=1e-3),
    dict(algorithm="lbfgs", steps=40),
    dict(algorithm="gd", momentum=0.5, lr=0.1, steps=100, features="relu", loss="ce"),
    dict(algorithm="gd", momentum=0.9, lr=0.1, steps=200, depth=3, loss="mse"),
    dict(algorithm="adam", lr=0.01, steps=100, loss="label_smoothing", bias=1),
    dict(algorithm="gd", lr=0.1, steps=50, threads=2),
]

_compared = {"arrays": 0}


def _python_run(cfg, d, seed):
    m = nc.Model(d, counts=COUNTS, loss=cfg.get("loss", "ce"), bias=bool(cfg.get("bias", 0)),
                 weight_decay=(5e-4, 5e-4, cfg.get("lb", 0.0)),
                 features=cfg.get("features", "free"), depth=cfg.get("depth", 1),
                 threads=cfg.get("threads", 1), init_std=0.1, seed=seed)
    o = nc.Optimizer(m, cfg["algorithm"])
    if "lr" in cfg:
        o.set_learning_rate(cfg["lr"])
    if "lr_h" in cfg:
        o.set_learning_rate(cfg["lr_h"], "features")
    if "momentum" in cfg:
        o.set_momentum(cfg["momentum"])
    for _ in range(cfg["steps"]):
        o.step()
    return m, o


@pytest.mark.parametrize("cfg", RUNS, ids=lambda c: "-".join(
    "%s=%s" % kv for kv in c.items() if kv[0] in ("algorithm", "features", "depth", "loss",
                                                   "bias", "threads")))
def test_model_after_steps(cfg, reference, tmp_path):
    d, seed = 8, 7
    reference("model", out=tmp_path, d=d, counts=",".join(map(str, COUNTS)), seed=seed,
              **{k: v for k, v in cfg.items()})
    m, o = _python_run(cfg, d, seed)
    assert same_bits(m.W, np.load(tmp_path / "W.npy"))
    assert same_bits(m.H, np.load(tmp_path / "H.npy"))
    assert same_bits(m.b, np.load(tmp_path / "b.npy")[0])
    assert same_bits(m.objective(), np.load(tmp_path / "objective.npy")[0, 0])
    layers = np.load(tmp_path / "layers.npy")
    mine = np.array([[np.nan if v is None else v for v in m.metrics(layer=l).values()]
                     for l in range(m.depth)])
    assert same_bits(mine, layers)
    _compared["arrays"] += 5


@pytest.mark.parametrize("conv", [dict(), dict(global_mean=1), dict(between=1),
                                  dict(global_mean=1, between=1)])
@pytest.mark.parametrize("with_w", [True, False])
def test_metrics_data(conv, with_w, reference, tmp_path):
    H, y, W, b = clusters(N=400, d=10, K=5, seed=3)
    np.save(tmp_path / "H.npy", H)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "W.npy", W)
    np.save(tmp_path / "b.npy", b.reshape(-1, 1))
    kw = dict(out=tmp_path / "m.npy", H=tmp_path / "H.npy", labels=tmp_path / "y.npy", K=5, **conv)
    if with_w:
        kw.update(W=tmp_path / "W.npy", b=tmp_path / "b.npy")
    reference("metrics", **kw)
    expect = np.load(tmp_path / "m.npy")[0]
    gm = ["sample", "class_avg"][conv.get("global_mean", 0)]
    bw = ["uniform", "weighted"][conv.get("between", 0)]
    got = nc.metrics(H, y, W if with_w else None, b if with_w else None, K=5,
                     global_mean=gm, between=bw)
    assert list(got) == list(nc.METRIC_NAMES)
    vals = np.array([np.nan if v is None else v for v in got.values()])
    assert same_bits(vals, expect)
    # the same through an explicit handle, and through converted inputs
    with nc.Metrics(gm, bw) as m:
        m.compute_data(np.asfortranarray(H).astype(np.float64), y.astype(np.int64),
                       W if with_w else None, b if with_w else None, K=5)
        assert same_bits(np.array([np.nan if v is None else v for v in m.to_dict().values()]),
                         expect)
    _compared["arrays"] += 2


@pytest.mark.parametrize("shards", [[400], [100, 300], [37, 200, 0, 163], [1, 1, 398]])
def test_stream_merges(shards, reference, tmp_path):
    H, y, W, b = clusters(N=400, d=9, K=4, seed=5)
    for n, a in (("H", H), ("y", y), ("W", W), ("b", b.reshape(-1, 1))):
        np.save(tmp_path / ("%s.npy" % n), a)
    reference("stream", out=tmp_path / "m.npy", H=tmp_path / "H.npy", labels=tmp_path / "y.npy",
              W=tmp_path / "W.npy", b=tmp_path / "b.npy", K=4,
              shards=",".join(map(str, shards)))
    expect = np.load(tmp_path / "m.npy")[0]
    # the same workflow through the package: pass 1 per shard, merged, frozen,
    # copied to each shard for pass 2, merged
    bounds = np.cumsum([0] + shards)
    parts = [nc.Stream(9, 4, W, b) for _ in shards]
    for s, p in enumerate(parts):
        p.add(H[bounds[s]:bounds[s + 1]], y[bounds[s]:bounds[s + 1]])
    for p in parts[1:]:
        parts[0].merge(p)
    parts[0].next_pass()
    second = [parts[0].copy() for _ in shards]
    for s, p in enumerate(second):
        p.add(H[bounds[s]:bounds[s + 1]], y[bounds[s]:bounds[s + 1]])
    merged = second[0].copy()
    for p in second[1:]:
        merged.merge(p)
    vals = np.array([np.nan if v is None else v for v in merged.metrics().values()])
    assert same_bits(vals, expect)
    # and through files, as separate processes would: each pass-2 shard saved,
    # loaded by a coordinator into fresh streams and merged
    paths = []
    for i, p in enumerate(second):
        paths.append(tmp_path / ("shard%d.ncs" % i))
        p.save(paths[-1])
    coord = nc.Stream.from_file(paths[0], 9, 4)
    for path in paths[1:]:
        coord.merge(nc.Stream.from_file(path, 9, 4))
    assert coord.pass_number == 2 and coord.num_samples == 400
    vals = np.array([np.nan if v is None else v for v in coord.metrics().values()])
    assert same_bits(vals, expect)
    _compared["arrays"] += 2


@pytest.mark.parametrize("kind,counts,extra", [
    (0, [20, 20, 20], {}),
    (1, [15, 15, 15, 15], {"bias": 1}),
    (2, [40, 20, 10, 5], {}),
    (3, [40, 20, 10, 5], {}),
    (4, [40, 20, 10, 5], {"depth": 3}),
    (5, [30, 20, 10], {}),
])
def test_predictions(kind, counts, extra, reference, tmp_path):
    lw, lh = (0.0, 5e-3) if kind == 5 else (5e-3, 5e-3)
    reference("prediction", out=tmp_path, kind=kind, counts=",".join(map(str, counts)), lw=lw,
              lh=lh, **extra)
    p = nc.Prediction(kind, counts, weight_decay=(lw, lh, 0.0), **extra)
    assert p.kind == nc.PredictionKind(kind)
    assert same_bits(p.objective, np.load(tmp_path / "objective.npy")[0, 0])
    # the reference writes each K x K column-major matrix as rows: the transpose
    assert same_bits(p.logits.T, np.load(tmp_path / "logits.npy"))
    assert same_bits(p.classifier_gram.T, np.load(tmp_path / "classifier_gram.npy"))
    assert same_bits(p.feature_gram.T, np.load(tmp_path / "feature_gram.npy"))
    _compared["arrays"] += 4


def test_history_equals_c(reference, tmp_path):
    reference("history", out=tmp_path / "h.csv", d=8, counts="30,20,10,6", steps=120, every=25,
              seed=3, momentum=0.9, depth=2, loss="mse")
    m = nc.Model(8, counts=COUNTS, loss="mse", depth=2, weight_decay=(5e-4, 5e-4),
                 init_std=0.1, seed=3)
    o = nc.Optimizer(m, "gd", momentum=0.9, max_iterations=120)
    h = o.record(25)
    assert o.run() == nc.Status.STOP_MAX_ITERATIONS
    with open(tmp_path / "h.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == h.rows == 6  # steps 0, 25, 50, 75, 100 and the final 120
    arrays = h.to_numpy()
    for i, r in enumerate(rows):
        assert int(r["step"]) == arrays["step"][i]
        assert same_bits(float(r["objective"]), arrays["objective"][i])
        assert same_bits(float(r["gradient_norm"]), arrays["gradient_norm"][i])
        for name in nc.METRIC_NAMES:
            for layer in range(2):
                got = arrays[name][i, layer]
                want = float(r["l%d_%s" % (layer, name)])
                assert (np.isnan(got) and np.isnan(want)) or same_bits(got, want)
    _compared["arrays"] += 3 * 6 + 2 * 13 * 6


def test_zz_report():
    assert _compared["arrays"] > 0
    note("bit-identical to the C API: %d arrays or values compared (models after steps, "
         "metrics, stream merges, predictions, histories)" % _compared["arrays"])
