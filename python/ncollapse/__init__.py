"""ncollapse: Python interface of libncollapse, a library for studying neural
collapse (simulate unconstrained feature models, measure NC1-NC4 on
features of real networks, compare with the papers' closed forms).

Pure ctypes over the shared library libncollapse.so.0 (no compiler needed);
see docs/python.md. The objects map one to one to the library's handles:

    Model       nc_model        Optimizer   nc_optimizer    History  nc_history
    Metrics     nc_metrics      Prediction  nc_prediction   Curvature nc_curvature
    Stream      nc_stream       NpyReader   nc_npy_reader   NpyWriter nc_npy_writer

and ``metrics(H, labels, W, b)`` measures arrays in one call. Features are
(N, d) arrays (one row per sample) and classifiers (K, d) arrays, used
without a copy when C-ordered float64. Failures raise ``ncollapse.Error``
subclasses; the reasons an optimizer run stops are ``Status`` values.

Threads: a handle (and an optimizer with its model) is used by one thread at
a time; different handles may be used concurrently, and the library releases
the GIL during its calls. ``Model(threads=n)`` runs a model's pass on n
threads. The PyTorch helpers are in ``ncollapse.pytorch`` (imported
only on request, and only where torch is installed).
"""
from . import _lib
from ._enums import (Algorithm, BetweenWeight, Block, ByteOrder, Comparison, Escape, Features,
                     GlobalMean, Loss, LossParameter, Metric, MinorityStat, Nc1Path, NpyDtype, Point,
                     PredictionKind, Schedule, Status, Verdict)
from ._errors import (ChecksumError, Diverged, DtypeError, EmptyClass, Error, FileError,
                      FileIOError, FileSizeError, FormatError, InputError, InvalidSize,
                      InvalidValue, LabelOutOfRange, LapackError, MismatchError, NonFinite,
                      NullArgument, NumericalError, OutOfMemory, Overflow, SizeMismatch,
                      TruncatedError, Unavailable, Unsupported)
from .analysis import (align, cdnv, center, class_means, etf_distance, gram, minority, norms,
                       orthogonal_distance, orthogonal_frame, random_orthogonal, simplex_etf,
                       structure_distance, transform)
from .data import (NpyReader, NpyWriter, Stream, load_checkpoint, read_npy, save_checkpoint,
                   write_npy)
from .metrics import METRIC_NAMES, Metrics, metrics
from .model import Model
from .optimizer import Curvature, History, Optimizer
from .prediction import Prediction

__version__ = _lib.VERSION_STRING

#: Path of the shared library in use, and how it was found.
library_path = _lib.PATH
library_found_by = _lib.FOUND_BY


def library_version():
    """(version string, version number) of the loaded library."""
    return _lib.text(_lib.nc_version_string()), _lib.nc_version_number()


def strerror(status):
    return _lib.text(_lib.nc_strerror(int(status)))


def status_name(status):
    return _lib.text(_lib.nc_status_name(int(status)))
