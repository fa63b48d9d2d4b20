"""Exceptions: every failure status (< 0) of the library raises one.

``Error`` carries ``status`` (the number), ``name`` (``"NC_ERR_..."``),
``description`` (``nc_strerror``) and ``detail`` (the handle's message,
``nc_*_last_error``, when there is one). Subclasses group the statuses by
family, so ``except ncollapse.InputError`` catches every refused input and
``except ncollapse.FileError`` every file failure. Stop reasons of an
optimizer run (statuses > 0) are values (``ncollapse.Status``), never
exceptions.
"""
from . import _lib


class Error(Exception):
    """A failure status of libncollapse (the base of every exception here)."""

    status = None  # the nc_status value of the class (None: any)

    def __init__(self, status, detail=""):
        self.status = int(status)
        self.name = _lib.text(_lib.nc_status_name(self.status))
        self.description = _lib.text(_lib.nc_strerror(self.status))
        self.detail = detail or ""
        msg = "%s: %s" % (self.name, self.detail or self.description)
        super().__init__(msg)


# Families ------------------------------------------------------------------
class InputError(Error, ValueError):
    """An argument was refused before anything changed."""


class NumericalError(Error, ArithmeticError):
    """A computation could not be completed (divergence, LAPACK, overflow,
    a value that the data do not determine)."""


class FileError(Error, OSError):
    """A file could not be read or written, or is not what it should be."""


# Statuses ---------------------------------------------------------------
class NullArgument(InputError):
    """NC_ERR_NULL_ARGUMENT (also: a closed handle)."""
    status = -1


class InvalidSize(InputError):
    status = -2


class SizeMismatch(InputError):
    """NC_ERR_SIZE_MISMATCH (also: shapes that disagree, e.g. a (d, N) array)."""
    status = -3


class LabelOutOfRange(InputError):
    status = -4


class EmptyClass(InputError):
    status = -5


class NonFinite(InputError):
    status = -6


class InvalidValue(InputError):
    """NC_ERR_INVALID_VALUE (also: an array whose dtype or layout is refused)."""
    status = -7


class Diverged(NumericalError):
    """NC_ERR_DIVERGED. The model holds its last finite iterate; ``state`` is a
    copy of it (dict of ``W``, ``H``, ``b``, ``objective``, ``gradient_norm``,
    ``iteration``: the recorded values belong to the iterate before it) and
    ``model`` the Model itself."""
    status = -8
    state = None
    model = None


class OutOfMemory(Error, MemoryError):
    status = -9


class LapackError(NumericalError):
    status = -10


class Unavailable(NumericalError):
    status = -11


class Unsupported(Error):
    status = -12


class Overflow(NumericalError):
    status = -13


class FileIOError(FileError):
    status = -14


class FormatError(FileError):
    status = -15


class TruncatedError(FileError):
    status = -16


class FileSizeError(FileError):
    status = -17


class DtypeError(FileError):
    status = -18


class ChecksumError(FileError):
    status = -19


class MismatchError(FileError):
    status = -20


_BY_STATUS = {c.status: c for c in (
    NullArgument, InvalidSize, SizeMismatch, LabelOutOfRange, EmptyClass, NonFinite, InvalidValue,
    Diverged, OutOfMemory, LapackError, Unavailable, Unsupported, Overflow, FileIOError,
    FormatError, TruncatedError, FileSizeError, DtypeError, ChecksumError, MismatchError)}


def error(status, detail=""):
    """The exception for a failure status (an unknown code gives Error)."""
    cls = _BY_STATUS.get(int(status), Error)
    return cls(status, detail)


def create_error(status, fallback=""):
    """The exception for a failed create or copy: the library's reason
    (nc_create_last_error, kept per thread) or, without one, fallback."""
    return error(status, _lib.text(_lib.nc_create_last_error()) or fallback)


def check(status, handle_message=None):
    """Raise for status < 0 (with the handle's message, a callable or str);
    return status otherwise."""
    if status < 0:
        detail = handle_message() if callable(handle_message) else handle_message
        raise error(status, detail)
    return status


def closed(what):
    """The exception for a call on a closed handle."""
    return NullArgument(-1, "the %s is closed (close() was called)" % what)
