"""Places to keep files: a local directory or any ``pyarrow.fs`` filesystem URI.

Checkpoints and savepoints live under a :class:`Location`: a local path (``/data/chk``) or a
URI ``pyarrow.fs`` opens (``file:///data/chk``, ``s3://bucket/chk?region=eu-west-1``,
``gs://...``, ``hdfs://...``). A location prints as the string it came from with its
children's names appended (before a URI's query), so it can be stored, sent to an agent on
another machine and opened there again. Writes are whole files, made visible at once: written
aside and moved into place (a rename on local disks; object stores publish a file whole).

>>> import tempfile
>>> root = Location.of(tempfile.mkdtemp())
>>> (root / "chk-1" / "part").write_text('{"n": 1}')
>>> (root / "chk-1" / "part").read_text(), [c.name for c in root.children()]
('{"n": 1}', ['chk-1'])
>>> str(Location.of("s3://bucket/chk?region=eu-west-1") / "job")
's3://bucket/chk/job?region=eu-west-1'
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.fs as pafs

from sabot_lab.errors import LocationError

__all__ = ["Location", "LocationLike", "child_name"]


def child_name(name: str) -> str:
    """``name`` checked to name a child of a directory: not empty, not ``.`` or ``..``, no
    ``/``, ``\\`` or NUL. Every path built from a name that came over the network goes through
    here, so it stays inside its root.

    >>> child_name("job-1.arrow")
    'job-1.arrow'
    >>> child_name("../etc")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.LocationError: '../etc' cannot name a file inside its directory
    """
    if name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise LocationError(f"{name!r} cannot name a file inside its directory")
    return name


@dataclass(frozen=True)
class Location:
    """A file or directory: ``root`` (a local path or a filesystem URI, as given) and the
    names of ``parts`` below it."""

    root: str
    parts: tuple[str, ...] = ()

    @classmethod
    def of(cls, where: str | os.PathLike[str] | Location) -> Location:
        """The location ``where`` names (a relative local path is made absolute).

        >>> Location.of("s3://b/x").is_local, Location.of("/tmp").is_local
        (False, True)
        """
        if isinstance(where, Location):
            return where
        text = os.fspath(where)
        return cls(text if "://" in text else os.path.abspath(text))

    @property
    def is_local(self) -> bool:
        """Whether it is a local path (not a URI)."""
        return "://" not in self.root

    @property
    def name(self) -> str:
        """The last part of its path."""
        return self.parts[-1] if self.parts else self.path.rstrip("/").rsplit("/", 1)[-1]

    def __truediv__(self, name: str) -> Location:
        """The child ``name`` (``a/b`` for a grandchild); no part may climb out (``..``)."""
        return Location(self.root, (*self.parts, *map(child_name, name.split("/"))))

    def __str__(self) -> str:
        if self.is_local:
            return os.path.join(self.root, *self.parts)
        scheme, netloc, path, query, fragment = urlsplit(self.root)
        path = "/".join((path.rstrip("/"), *self.parts))
        return urlunsplit((scheme, netloc, path, query, fragment))

    @property
    def filesystem(self) -> pafs.FileSystem:
        """The ``pyarrow.fs`` filesystem holding it."""
        return _filesystem(self.root)[0]

    @property
    def path(self) -> str:
        """Its path within :attr:`filesystem`."""
        return "/".join((_filesystem(self.root)[1].rstrip("/"), *self.parts))

    @property
    def local_path(self) -> Path:
        """Its local path; an error when it is not on a local disk."""
        if not self.is_local:
            raise LocationError(f"{self} is not a local path")
        return Path(str(self))

    # -- reading -------------------------------------------------------------------------
    def _type(self) -> pafs.FileType:
        return self.filesystem.get_file_info(self.path).type

    def exists(self) -> bool:
        """Whether a file or directory is there."""
        return self._type() != pafs.FileType.NotFound

    def is_dir(self) -> bool:
        """Whether a directory (or, in an object store, a prefix holding files) is there."""
        return self._type() == pafs.FileType.Directory

    def children(self) -> list[Location]:
        """The files and directories right below it, by name (none when it does not exist)."""
        if not self.is_dir():
            return []
        found = self.filesystem.get_file_info(pafs.FileSelector(self.path))
        return [self / info.base_name for info in sorted(found, key=lambda i: i.base_name)]

    def files(self) -> list[tuple[str, int]]:
        """Every file below it, as (path relative to it, size in bytes)."""
        if not self.is_dir():
            return []
        selector = pafs.FileSelector(self.path, recursive=True)
        prefix = len(self.path.rstrip("/")) + 1
        return sorted(
            (info.path[prefix:], info.size or 0)
            for info in self.filesystem.get_file_info(selector)
            if info.type == pafs.FileType.File
        )

    def size(self) -> int:
        """Bytes in the files below it (or in it, a file)."""
        info = self.filesystem.get_file_info(self.path)
        if info.type == pafs.FileType.File:
            return info.size or 0
        return sum(size for _, size in self.files())

    def read_bytes(self) -> bytes:
        """The file's contents."""
        try:
            with self.filesystem.open_input_stream(self.path) as f:
                return bytes(f.read())
        except (FileNotFoundError, pa.ArrowException, OSError) as exc:
            raise LocationError(f"cannot read {self}: {exc}") from exc

    def read_text(self) -> str:
        """The file's contents as UTF-8 text."""
        return self.read_bytes().decode()

    # -- writing -------------------------------------------------------------------------
    def write_bytes(self, data: bytes) -> None:
        """Write the file whole: aside, then moved into place (its directory is made)."""
        with self.open_output() as f:
            f.write(data)

    @contextlib.contextmanager
    def open_output(self) -> Iterator[pa.NativeFile]:
        """A stream writing the file whole, as :meth:`write_bytes` does: what the block
        writes appears at once when it ends, and not at all when it fails.

        >>> import tempfile
        >>> target = Location.of(tempfile.mkdtemp()) / "t.bin"
        >>> with target.open_output() as out:
        ...     _ = out.write(b"ab")
        >>> target.read_bytes()
        b'ab'
        """
        with self._aside() as (fs, aside), fs.open_output_stream(aside) as f:
            yield f

    @contextlib.contextmanager
    def _aside(self) -> Iterator[tuple[pafs.FileSystem, str]]:
        """The filesystem and a path next to this file to write it at, moved into place
        when the block ends."""
        fs = self.filesystem
        if fs.type_name not in _OBJECT_STORES:  # (an object's key makes its directories)
            fs.create_dir(self.path.rsplit("/", 1)[0], recursive=True)
        aside = f"{self.path}.partial"
        yield fs, aside
        fs.move(aside, self.path)

    def write_text(self, text: str) -> None:
        """Write UTF-8 text as the whole file."""
        self.write_bytes(text.encode())

    def mkdir(self) -> None:
        """Make the directory (and its parents)."""
        self.filesystem.create_dir(self.path, recursive=True)

    def delete(self) -> None:
        """Remove the file or directory with everything below it (nothing when missing)."""
        kind = self._type()
        if kind == pafs.FileType.Directory:
            self.filesystem.delete_dir(self.path)
        elif kind == pafs.FileType.File:
            self.filesystem.delete_file(self.path)

    def copy_to(self, target: Location) -> None:
        """Copy the file (whole, as :meth:`write_bytes`), or the directory's files, to
        ``target`` (on any filesystem)."""
        if self._type() == pafs.FileType.File:
            with target._aside() as (fs, aside):
                pafs.copy_files(
                    self.path, aside, source_filesystem=self.filesystem, destination_filesystem=fs
                )
            return
        target.mkdir()
        pafs.copy_files(
            self.path,
            target.path,
            source_filesystem=self.filesystem,
            destination_filesystem=target.filesystem,
        )


LocationLike = str | os.PathLike[str] | Location
"""A local path, a filesystem URI, or a :class:`Location`."""

_OBJECT_STORES = frozenset({"s3", "gcs", "abfs"})
"""The ``type_name`` of the ``pyarrow.fs`` filesystems whose directories are only the
prefixes of their objects' keys: writing a file there needs no directory made first (making
one costs a request for each level of its path)."""


def _with_small_puts(uri: str) -> str:
    """``uri`` opening S3 with ``allow_delayed_open`` unless it says otherwise: a file
    smaller than an upload part is then sent in one request when it is closed, not in three
    (a multipart upload started, its part, its completion), and checkpoints are many small
    files.

    >>> _with_small_puts("s3://b/chk?region=eu-west-1")
    's3://b/chk?region=eu-west-1&allow_delayed_open=true'
    >>> _with_small_puts("s3://b/chk?allow_delayed_open=false"), _with_small_puts("gs://b/c")
    ('s3://b/chk?allow_delayed_open=false', 'gs://b/c')
    """
    scheme, netloc, path, query, fragment = urlsplit(uri)
    if scheme != "s3" or "allow_delayed_open" in parse_qs(query):
        return uri
    query = "&".join(q for q in (query, "allow_delayed_open=true") if q)
    return urlunsplit((scheme, netloc, path, query, fragment))


@functools.lru_cache(maxsize=64)
def _filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem of ``root`` and its path there (opened once per process)."""
    if "://" not in root:
        return pafs.LocalFileSystem(), root
    try:
        return pafs.FileSystem.from_uri(_with_small_puts(root))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise LocationError(
            f"cannot open {root}: {exc}; give a local path or a URI pyarrow.fs supports "
            "(file://, s3://, gs://, hdfs://, abfs://)"
        ) from None
