"""The base of the classes that own a library handle."""
import weakref

from . import _errors, _lib


class Handle:
    """Owns one library handle: freed by close(), by ``with`` or when
    garbage-collected (whichever comes first; close() may be called twice).
    A closed handle raises ``NullArgument`` on use.

    Threads: a handle is used by one thread at a time (the library's rule);
    different handles may be used from different threads concurrently, and
    the library's calls release the GIL while they run.
    """

    _what = "handle"
    _destroy = None     # name of the C destroy function
    _last_error = None  # name of the C last-error function

    def __init__(self):
        self._ptr = None
        self._finalizer = None
        self._dependents = weakref.WeakSet()

    def _own(self, ptr):
        self._ptr = ptr
        self._finalizer = weakref.finalize(self, getattr(_lib, self._destroy), ptr)

    @property
    def _p(self):
        p = self._ptr
        if p is None:
            raise _errors.closed(self._what)
        return p

    @property
    def closed(self):
        return self._ptr is None

    def close(self):
        """Free the handle now (objects that borrow it are closed or detached first)."""
        if self._ptr is None:
            return
        for dep in list(self._dependents):
            if dep._ptr is not None:
                dep._release(self)
        self._ptr = None
        if self._finalizer is not None:
            self._finalizer()

    def _release(self, other):  # a handle this one borrows is being closed
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    @property
    def last_error(self):
        """The handle's message on its last failure ("" if none)."""
        if self._ptr is None or self._last_error is None:
            return ""
        return _lib.text(getattr(_lib, self._last_error)(self._ptr))

    def _check(self, status):
        if status < 0:
            raise _errors.error(status, self.last_error)
        return status

    def _new_ptr(self):
        return _lib.HANDLE_TYPES[self._ctype]()
