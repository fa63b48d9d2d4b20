"""Runs: predictions built from models and compared, the second-order check,
escapes, stop information, per-layer metrics and the metrics history."""
import numpy as np
import pytest

import ncollapse as nc
from conftest import same_bits


def test_prediction_from_model_and_compare():
    m = nc.Model(16, counts=[60, 30, 15, 15], weight_decay=(5e-3, 5e-3), init_std=0.1, seed=2)
    p = nc.Prediction.from_model(m)
    assert p.kind is nc.PredictionKind.HONG_LING_CE and p.K == 4
    before = p.compare(m)
    assert before["verdict"] is nc.Verdict.ABOVE_PREDICTION
    assert before["verdict_name"] == "above the prediction"
    o = nc.Optimizer(m, "lbfgs", tolerance=1e-10, max_iterations=5000, prediction=p)
    assert o.run() is nc.Status.STOP_GRADIENT_TOLERANCE
    after = p.compare(m)
    assert after["verdict"] is nc.Verdict.OPTIMUM and after["verdict_name"] == "optimum"
    assert abs(after["objective_gap"]) < 1e-9
    assert o.stop_verdict()["verdict"] is nc.Verdict.OPTIMUM
    assert "optimum" in o.stop_info
    assert same_bits(after["predicted_objective"], p.objective)
    with pytest.raises(nc.Unsupported) as e:
        nc.Prediction.from_model(nc.Model(4, counts=[2, 2], loss="focal"))
    assert "focal" in e.value.detail


def test_prediction_results():
    p = nc.Prediction("balanced_ce", [10, 10, 10], weight_decay=(1e-2, 1e-2))
    assert p.compute() is nc.Status.SUCCESS
    Z = p.logits
    m = np.log(1 / (1e-2 * np.sqrt(10)) - 2)
    assert np.allclose(Z, m * (np.eye(3) - 1 / 3), rtol=1e-13)
    w, h = p.norms
    assert w.shape == h.shape == (3,)
    assert np.array_equal(p.collapsed, [False] * 3)
    assert np.allclose(p.thresholds, 1 / (3 * np.sqrt(10)))
    assert p.critical_count == pytest.approx((30 * 1e-2) ** 2)
    with pytest.raises(nc.Unavailable):
        p.feature_scale
    with pytest.raises(nc.InvalidValue):
        nc.Prediction("balanced_ce", [10, 9, 10])
    deep = nc.Prediction("deep_linear_mse", [40, 20, 5], weight_decay=(1e-3, 1e-3), depth=3)
    assert deep.singular_values.shape == (3,) and deep.iterations == 0


def test_curvature_and_escape():
    # ReLU CE (Dang et al. 2024): projected L-BFGS from a small start stops at a KKT
    # point with classes held at zero; the check says so and the escape leaves it.
    def model():
        return nc.Model(16, counts=[200, 100, 50, 50], features="relu",
                        weight_decay=(5e-3, 5e-3), init_std=1e-3, seed=1)
    m = model()
    o = nc.Optimizer(m, "lbfgs", tolerance=1e-9, max_iterations=20000, check=True,
                     prediction=nc.Prediction.from_model(m))
    o.run()
    assert o.stop_verdict()["verdict"] is nc.Verdict.ABOVE_PREDICTION
    c = nc.Curvature(m)
    assert c.compute() in (nc.Point.LOCAL_MINIMUM, nc.Point.INCONCLUSIVE)
    assert len(c.dead_classes) == 2 and c.active_bounds > 0
    assert c.direction.shape == (m.num_variables,)
    assert "classes at h = 0" in o.stop_info and "above the prediction" in o.stop_info
    m2 = model()
    o2 = nc.Optimizer(m2, "lbfgs", tolerance=1e-9, max_iterations=20000, escape=10,
                      prediction=nc.Prediction.from_model(m2))
    o2.run()
    assert o2.escapes >= 1 and o2.stop_verdict()["verdict"] is nc.Verdict.OPTIMUM
    # the MSE model at W = H = 0 is a strict saddle
    z = nc.Model(8, counts=[10, 10, 10], loss="mse", weight_decay=(1e-3, 1e-3))
    cz = nc.Curvature(z)
    assert cz.compute() is nc.Point.STRICT_SADDLE and cz.min_eigenvalue < 0
    assert "strict saddle" in repr(cz)


def test_layer_metrics_and_arrays():
    m = nc.Model(6, counts=[20, 15, 10], loss="mse", depth=3, weight_decay=(1e-3, 1e-3),
                 init_std=0.3, seed=5, bias=True)
    mt = nc.Metrics()
    for l in range(3):
        a = mt.compute_layer(m, l).to_dict()
        b = mt.compute_layer_data(m.H, m.labels, m.layers, m.b, layer=l).to_dict()
        assert a == b
        Hl, Cl = m.layer_features(l), m.layer_classifier(l)
        assert np.allclose(Hl @ Cl.T, m.H @ m.product.T, rtol=1e-10, atol=1e-12)
    assert mt.compute_layer(m, 0).to_dict() == m.metrics()


def test_history_columns_and_files(tmp_path):
    m = nc.Model(8, counts=[30, 20, 10], weight_decay=(5e-4, 5e-4), init_std=0.1)
    o = nc.Optimizer(m, "gd", momentum=0.9, max_iterations=60)
    h = o.record(20, metrics=["nc1", "nc3", "accuracy"], global_mean="class_avg")
    o.run()
    assert h.metrics == ["nc1", "nc3", "accuracy"] and len(h) == 4 and h.layers == 1
    d = h.to_dict()
    assert d["step"] == [0, 20, 40, 60] and set(d) == {"step", "objective", "gradient_norm",
                                                       "nc1", "nc3", "accuracy"}
    assert d["objective"][-1] == o.objective
    with pytest.raises(nc.Unavailable):
        h.get(0, "nc4")
    h.save_csv(tmp_path / "h.csv")
    h.save_json(tmp_path / "h.json")
    assert (tmp_path / "h.csv").read_text().startswith("step,objective,gradient_norm,nc1,nc3")
    # record by hand with the model's own values
    h2 = nc.History()
    h2.record(m, 7, m.objective(), 0.0)
    assert h2.row(0)[0] == 7 and same_bits(h2["nc1"], [m.metrics(global_mean="sample")["nc1"]])
    o.record(None)
    assert o.history is None
