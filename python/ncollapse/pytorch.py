"""PyTorch helpers: penultimate features of a network, straight into a Stream.

Importing this module imports torch (the rest of ncollapse never does).

``collect(network, classifier, loader)`` runs the network over a DataLoader
twice (the two passes of a Stream) with a forward pre-hook on the final
``nn.Linear`` (its input is the penultimate feature of each sample); each
batch's features go to the stream as they are computed, so memory does not
grow with the number of samples. The classifier's weight and bias are the
stream's W and b. ``measure(...)`` returns the metrics dict, and
``EpochLogger`` records them once per epoch.
"""
import numpy as np
import torch

from . import _errors
from .data import Stream
from .metrics import Metrics

__all__ = ["classifier_arrays", "collect", "measure", "EpochLogger"]


def classifier_arrays(linear):
    """(W (K, d), b (K,) or None) of an nn.Linear as float64 NumPy arrays."""
    if not isinstance(linear, torch.nn.Linear):
        raise TypeError("classifier must be a torch.nn.Linear, got %s" % type(linear).__name__)
    W = linear.weight.detach().to("cpu", torch.float64).numpy().copy()
    b = None if linear.bias is None else \
        linear.bias.detach().to("cpu", torch.float64).numpy().copy()
    return W, b


def _default_batch(batch):
    return batch[0], batch[1]


def collect(network, classifier, loader, *, batch_fn=_default_batch, device=None,
            eval_mode=True, nc1_path="auto"):
    """A Stream in pass 2 holding the penultimate features of every sample of
    ``loader`` (two passes over it; each pass must see the same samples, in
    any order), with ``classifier`` (the network's final nn.Linear(d, K))
    as W and b. ``batch_fn(batch) -> (inputs, labels)`` (default: the first
    two items); inputs are moved to ``device`` when given. The network is put
    in eval mode for the passes (unless eval_mode=False) and restored.
    ``nc1_path="none"`` leaves out NC1 = tr(Sigma_W Sigma_B^+)/K and its
    d x d within-class scatter (Stream), the most costly part at large d."""
    W, b = classifier_arrays(classifier)
    K, d = W.shape
    stream = Stream(d, K, W, b, nc1_path=nc1_path)
    state = {"labels": None, "calls": 0}

    def hook(module, inputs):
        h = inputs[0].detach()
        if h.dim() != 2 or h.shape[1] != d:
            raise _errors.SizeMismatch(-3, "the classifier's input has shape %s; (batch, %d) "
                                       "is needed" % (tuple(h.shape), d))
        y = state["labels"]
        # float32 goes to the stream as it is (nc_stream_add_float widens each
        # value as it uses it: the bits of the float64 path, without a copy).
        h = h.to("cpu")
        if h.dtype != torch.float32:
            h = h.to(torch.float64)
        stream.add(h.numpy(), y)
        state["calls"] += 1

    was_training = network.training
    handle = classifier.register_forward_pre_hook(hook)
    try:
        if eval_mode:
            network.eval()
        with torch.no_grad():
            for pass_ in (1, 2):
                for batch in loader:
                    x, y = batch_fn(batch)
                    y = y.detach().to("cpu").numpy() if torch.is_tensor(y) else np.asarray(y)
                    state["labels"] = y
                    before = state["calls"]
                    network(x.to(device) if device is not None else x)
                    if state["calls"] != before + 1:
                        raise RuntimeError("the classifier ran %d times for one batch; it must "
                                           "run once per forward pass"
                                           % (state["calls"] - before))
                if pass_ == 1:
                    stream.next_pass()
    except BaseException:
        stream.close()
        raise
    finally:
        handle.remove()
        network.train(was_training)
    return stream


def measure(network, classifier, loader, *, batch_fn=_default_batch, device=None,
            eval_mode=True, nc1_path="auto", **conventions):
    """The metrics dict of the network's penultimate features over loader
    (collect() then Metrics.compute_stream; conventions as ncollapse.metrics,
    nc1_path as collect())."""
    with collect(network, classifier, loader, batch_fn=batch_fn, device=device,
                 eval_mode=eval_mode, nc1_path=nc1_path) as s:
        return Metrics._cached(**conventions).compute_stream(s).to_dict()


class EpochLogger:
    """Measure NC once per epoch: ``logger(epoch, loss=...)`` appends a row
    {"epoch", extra values, every metric} and returns it; ``every`` skips
    epochs not divisible by it. ``rows`` is the list of rows, ``column(name)``
    one column as an array, ``save_csv(path)`` writes them."""

    def __init__(self, network, classifier, loader, *, every=1, batch_fn=_default_batch,
                 device=None, nc1_path="auto", **conventions):
        self.network, self.classifier, self.loader = network, classifier, loader
        self.every, self.batch_fn, self.device = every, batch_fn, device
        self.nc1_path = nc1_path
        self.conventions = conventions
        self.rows = []

    def __call__(self, epoch, **extra):
        if epoch % self.every:
            return None
        m = measure(self.network, self.classifier, self.loader, batch_fn=self.batch_fn,
                    device=self.device, nc1_path=self.nc1_path, **self.conventions)
        row = {"epoch": epoch}
        row.update(extra)
        row.update(m)
        self.rows.append(row)
        return row

    def column(self, name):
        return np.array([np.nan if r.get(name) is None else r[name] for r in self.rows],
                        dtype=np.float64)

    def save_csv(self, path):
        if not self.rows:
            raise ValueError("no rows")
        keys = list(self.rows[0])
        with open(path, "w") as f:
            f.write(",".join(keys) + "\n")
            for r in self.rows:
                f.write(",".join("nan" if r.get(k) is None else repr(r[k]) for k in keys) + "\n")
