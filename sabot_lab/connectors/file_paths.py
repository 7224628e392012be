"""Which files a file source reads: one path, a directory, a glob or a list of them.

A directory stands for the files under it (at any depth, names starting with ``_`` or ``.``
skipped, as Arrow, Polars and DuckDB do); a glob (``*``, ``?``, ``[...]``; ``**`` for any
depth) for the files it matches. The files come out sorted within each path given, in the
order the paths were given, so every process that lists them gets the same list.

May import: ``errors`` only.

>>> import os, tempfile
>>> root = tempfile.mkdtemp()
>>> for name in ("b.csv", "a.csv", "_SUCCESS"):
...     _ = open(os.path.join(root, name), "w").write("x\\n1\\n")
>>> [os.path.basename(f) for f in list_files(os.path.join(root, "*.csv"), "csv")]
['a.csv', 'b.csv']
>>> [os.path.basename(f) for f in list_files(root, "csv")]
['a.csv', 'b.csv']
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence

from sabot_lab.errors import SourceError

__all__ = ["PathsLike", "hive_root", "is_glob", "list_files"]

PathsLike = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def is_glob(path: str) -> bool:
    """True when ``path`` is a pattern (has ``*``, ``?`` or ``[``) rather than one path.

    >>> is_glob("data/**/*.parquet"), is_glob("data/t.parquet")
    (True, False)
    """
    return glob.has_magic(path)


def _fixed_dir(pattern: str) -> str:
    """The directory of a glob before its first wildcard."""
    fixed = pattern.split("*")[0].split("?")[0].split("[")[0]
    return os.path.dirname(fixed) or os.curdir


def _hidden(relative: str) -> bool:
    return any(part.startswith(("_", ".")) for part in relative.split(os.sep))


def _files_under(directory: str) -> list[str]:
    found = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        found += [os.path.join(root, n) for n in sorted(names) if not n.startswith(("_", "."))]
    return found


def _expand(path: str, format: str) -> list[str]:
    if is_glob(path):
        root = _fixed_dir(path)  # names below it starting with "_" or "." are skipped
        matches = sorted(glob.glob(path, recursive=True))
        files = [m for m in matches if os.path.isfile(m) and not _hidden(os.path.relpath(m, root))]
        if not files:
            raise SourceError(
                f"no {format} file matches the pattern {path!r}: check the directory and the "
                "pattern (`*` matches within one directory, `**/` any depth)"
            )
        return files
    if os.path.isdir(path):
        files = _files_under(path)
        if not files:
            raise SourceError(f"the {format} source directory {path!r} has no files to read")
        return files
    if not os.path.exists(path):
        raise SourceError(f"{format} source {path!r} does not exist")
    return [path]


def list_files(paths: PathsLike, format: str) -> list[str]:
    """The files ``paths`` stands for (see the module); a :class:`SourceError` naming the
    path or pattern that has none.

    >>> list_files("/nonexistent/*.parquet", "parquet")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SourceError: no parquet file matches the pattern '/nonexistent/*.parquet': check the directory and the pattern (`*` matches within one directory, `**/` any depth)
    """
    if isinstance(paths, str | os.PathLike):
        return _expand(os.fspath(paths), format)
    if not paths:
        raise SourceError(f"the list of {format} paths is empty: give at least one path")
    return [file for path in paths for file in _expand(os.fspath(path), format)]


def hive_root(paths: PathsLike) -> str | None:
    """The directory whose ``key=value`` subdirectories name the partitions: ``paths`` itself
    when it is one directory, else the fixed part of one glob (before its first wildcard);
    None for a file or a list.

    >>> hive_root("data/**/*.parquet"), hive_root("data/t.parquet")
    ('data', None)
    """
    if not isinstance(paths, str | os.PathLike):
        return None
    path = os.fspath(paths)
    if is_glob(path):
        return _fixed_dir(path)
    return path.rstrip(os.sep) if os.path.isdir(path) else None
