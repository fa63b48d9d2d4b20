"""The PyTorch helpers (skipped only where torch is not installed)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ncollapse as nc                     # noqa: E402
from ncollapse import pytorch as ncpt      # noqa: E402


def network(d_in=10, d=6, K=4, seed=0):
    torch.manual_seed(seed)
    body = torch.nn.Sequential(torch.nn.Linear(d_in, 16), torch.nn.ReLU(),
                               torch.nn.Linear(16, d), torch.nn.Dropout(0.5))
    head = torch.nn.Linear(d, K)
    return torch.nn.Sequential(body, head), body, head


def data(N=250, d_in=10, K=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(N, d_in, generator=g)
    y = torch.arange(N) % K
    X[:, 0] += 3 * y
    return X, y


def test_collect_equals_metrics_of_all_features():
    # float64 network: batches of 32 and the whole set give the same features
    # up to rounding (in float32 they differ by 1e-7 relative)
    net, body, head = network()
    net.double()
    X, y = data()
    X = X.double()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=32,
                                         shuffle=True)
    net.train()
    with ncpt.collect(net, head, loader) as s:
        assert s.pass_number == 2 and s.num_samples == 250
        got = s.metrics()
    assert net.training                      # mode restored
    net.eval()
    with torch.no_grad():
        H = body(X).double().numpy()         # eval mode: no dropout
    W, b = ncpt.classifier_arrays(head)
    ref = nc.metrics(H, y.numpy(), W, b)
    for k, v in ref.items():
        assert abs(got[k] - v) <= 1e-10 * max(1.0, abs(v)), k
    again = ncpt.measure(net, head, loader)   # another shuffle: equal up to rounding
    for k, v in got.items():
        assert abs(again[k] - v) <= 1e-12 * max(1.0, abs(v)), k


def test_collect_float32_streams_floats():
    # a float32 network: the features go to the stream as float32 (no
    # float64 copy), with the bits of a stream fed the same values as float64
    net, body, head = network()
    X, y = data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=32)
    got = ncpt.measure(net, head, loader)
    W, b = ncpt.classifier_arrays(head)
    s = nc.Stream(W.shape[1], W.shape[0], W, b)
    net.eval()
    with torch.no_grad():
        for p in range(2):
            for xb, yb in loader:
                h = body(xb)
                assert h.dtype == torch.float32
                s.add(h.double().numpy(), yb.numpy())
            if p == 0:
                s.next_pass()
    want = s.metrics()
    assert got.keys() == want.keys()
    for k in want:
        assert np.float64(got[k]).tobytes() == np.float64(want[k]).tobytes(), k


def test_measure_without_nc1():
    # nc1_path="none": no NC1, the other metrics with the default's bits
    net, body, head = network()
    X, y = data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=32)
    full = ncpt.measure(net, head, loader)
    fast = ncpt.measure(net, head, loader, nc1_path="none")
    assert full["nc1"] is not None and fast["nc1"] is None
    for k in full:
        if k != "nc1":
            assert np.float64(fast[k]).tobytes() == np.float64(full[k]).tobytes(), k
    row = ncpt.EpochLogger(net, head, loader, nc1_path="none")(0)
    assert row["nc1"] is None and row["nc2_etf_means"] == full["nc2_etf_means"]


def test_tensors_accepted_directly():
    net, body, head = network()
    X, y = data()
    with torch.no_grad():
        Ht = body.eval()(X)                  # float32 tensor: converted once
    W, b = ncpt.classifier_arrays(head)
    got = nc.metrics(Ht, y, head.weight, head.bias)
    assert got == nc.metrics(Ht.double().numpy(), y.numpy().astype(np.int32), W, b)
    with pytest.raises(nc.InvalidValue, match="copy=False"):
        nc.metrics(Ht, y, W, b, copy=False)
    assert nc.metrics(Ht.double(), y.int(), W, b, copy=False) == got  # shares memory


def test_epoch_logger(tmp_path):
    net, body, head = network()
    X, y = data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=50)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    log = ncpt.EpochLogger(net, head, loader, every=5)
    for epoch in range(1, 31):
        net.train()
        for xb, yb in loader:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xb), yb).backward()
            opt.step()
        log(epoch, lr=0.1)
    assert [r["epoch"] for r in log.rows] == [5, 10, 15, 20, 25, 30]
    assert {k: v for k, v in log.rows[-1].items() if k not in ("epoch", "lr")} == \
        ncpt.measure(net, head, loader)
    acc = log.column("accuracy")
    assert acc[-1] > acc[0] and log.column("nc4").shape == (6,)
    log.save_csv(tmp_path / "log.csv")
    assert (tmp_path / "log.csv").read_text().startswith("epoch,lr,nc1,")


def test_classifier_must_run_once():
    net, body, head = network()
    X, y = data(N=40)
    twice = torch.nn.Sequential(body, head)

    class Twice(torch.nn.Module):
        def forward(self, x):
            return head(body(x)) + head(body(x))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=20)
    with pytest.raises(RuntimeError, match="2 times"):
        ncpt.collect(Twice(), head, loader)
    assert ncpt.collect(twice, head, loader).num_samples == 40
