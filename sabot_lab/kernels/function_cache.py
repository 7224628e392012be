"""numba's on-disk cache of compiled user functions, found by what a function computes rather
than by its file: a plan carries its user functions by value (cloudpickle, which names their
file ``<dynamic-code>``), so the JobManager and each agent get a copy that numba's own cache
cannot place, and compiled it again (Nexmark q14's ``count_char``: 15 to 45 s a process).

:func:`cached` makes a dispatcher keep its machine code under :func:`cache_root`, in a file
named by :func:`code_key` of the function: its name, its code (without the file's name), the
values of its closure and of the globals it reads. Every copy of a function has the key of
the original, so any process of the host compiles it once and the others load it; a
function that differs in any of those gets another file. As with numba's own cache, a change
inside a function it calls that is imported by reference is not seen.

Imports numba as it loads (:mod:`.udf_compile` imports it on the first compile).

>>> import cloudpickle
>>> def inc(x):
...     return x + 1
>>> copy = cloudpickle.loads(cloudpickle.dumps(inc))
>>> copy.__code__.co_filename, code_key(copy) == code_key(inc)
('<dynamic-code>', True)
>>> def adding(n):
...     def add(x):
...         return x + n
...     return add
>>> code_key(adding(1)) == code_key(adding(1)), code_key(adding(1)) == code_key(adding(2))
(True, False)
"""

from __future__ import annotations

import hashlib
import inspect
import os
import sys
import types
from collections.abc import Callable
from typing import Any

import cloudpickle
from numba.core import config
from numba.core.caching import CompileResultCacheImpl, FunctionCache, _CacheLocator
from numba.misc.appdirs import AppDirs

__all__ = ["cache_root", "cached", "code_key"]


def cache_root() -> str:
    """Where compiled user functions are kept: ``NUMBA_CACHE_DIR`` when set, else numba's
    directory in the user's cache, each under ``sabot_lab_functions``."""
    root = (
        getattr(config, "CACHE_DIR", None)
        or AppDirs(appname="numba", appauthor=False).user_cache_dir
    )
    return os.path.join(root, "sabot_lab_functions")


def code_key(fn: Callable[..., Any]) -> str | None:
    """A digest of what ``fn`` computes, equal for each copy of it: its qualified name, its
    code (the file's name left out), its closure's values and those of the globals it reads;
    None when one of them cannot be pickled."""
    code: types.CodeType = fn.__code__
    names = sorted(_global_names(code))
    found = getattr(fn, "__globals__", {})
    closure = getattr(fn, "__closure__", None) or ()
    try:
        values = cloudpickle.dumps(
            ([c.cell_contents for c in closure], [(n, found[n]) for n in names if n in found])
        )
    except Exception:  # (a value that cannot travel: nothing to key on)
        return None
    parts = [fn.__qualname__.encode(), _code_text(code).encode(), values]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()


def cached(dispatcher: Any) -> bool:
    """Make numba keep ``dispatcher``'s compiled code under :func:`cache_root` by the key of
    its function; False (uncached) when that key or directory cannot be had, or when the
    function's module cannot be found (code run by ``exec``): numba's compiled code names
    its module, and could not be loaded back in another process."""
    if inspect.getmodule(dispatcher.py_func) is None:
        return False
    try:
        dispatcher._cache = _ByCodeCache(dispatcher.py_func)  # (what njit(cache=True) sets)
    except (RuntimeError, OSError):
        return False
    return True


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _code_text(code: types.CodeType) -> str:
    """What ``code`` does, as text equal for equal code (marshal's bytes are not: they follow
    which of equal strings are one object), with neither its file nor its lines."""
    consts = ", ".join(
        _code_text(c) if isinstance(c, types.CodeType) else _const_text(c) for c in code.co_consts
    )
    fields = (
        code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags,
        code.co_code, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars,
    )  # fmt: skip
    return f"code({fields!r}, [{consts}])"


def _const_text(value: Any) -> str:
    """A constant of code as text (a frozenset's members in order: its own order follows
    the process's string hashes)."""
    if isinstance(value, frozenset):
        return f"frozenset({sorted(map(_const_text, value))!r})"
    if isinstance(value, tuple):
        return f"({', '.join(map(_const_text, value))},)"
    return repr(value)


class _ByCodeLocator(_CacheLocator):
    """Places a function's cache under :func:`cache_root` by its :func:`code_key`."""

    def __init__(self, key: str) -> None:
        self.key = key

    def get_cache_path(self) -> str:
        return cache_root()

    def get_source_stamp(self) -> str:
        return self.key

    def get_disambiguator(self) -> str:
        return self.key[:32]

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> _ByCodeLocator | None:
        key = code_key(py_func)
        if key is None:
            return None
        locator = cls(key)
        try:
            locator.ensure_cache_path()
        except OSError:
            return None
        return locator


class _ByCodeImpl(CompileResultCacheImpl):
    _locator_classes = [_ByCodeLocator]  # type: ignore[list-item]  # noqa: RUF012 (numba's)

    def get_filename_base(self, fullname: str, abiflags: str) -> str:
        name = fullname.rsplit(".", 1)[-1].replace("<", "").replace(">", "")
        python = f"py{sys.version_info[0]}{sys.version_info[1]}{abiflags}"
        return f"{name}-{self.locator.get_disambiguator()}.{python}"


class _ByCodeCache(FunctionCache):
    _impl_class = _ByCodeImpl

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        """The kept code for ``sig``, or None (compile again) when it cannot be loaded."""
        try:
            return super().load_overload(sig, target_context)
        except Exception:  # (kept by another numba, or naming what is gone: compile again)
            return None
