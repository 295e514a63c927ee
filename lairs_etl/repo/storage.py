"""Object storage for the repository: the one module that knows fsspec and its paths.

A :class:`Storage` is a flat key → bytes store under a root (``packs/ab….car``,
``refs/heads/main``); keys are ``/``-separated relative paths that the layout module
builds from validated names. Everything above this module speaks keys, never paths,
and never sees an fsspec, botocore or ``OSError`` exception: they are translated here.

Two kinds of writes, because the crash and concurrency guarantees hinge on them:

* :meth:`Storage.put` for immutable, content-addressed objects: atomic (a reader never
  sees half an object under its final name), idempotent, last writer wins harmlessly.
* :meth:`Storage.swap` for the few mutable objects (refs): a compare-and-swap that
  either replaces exactly the expected bytes or raises :class:`RefConflictError`.

How each backend makes those guarantees (the "publish method"):

======== =========================================== ==========================================
backend  put                                         swap
======== =========================================== ==========================================
file     temp file, fsync, ``os.replace``            ``flock`` on ``<key>.lock``, compare,
                                                     temp file + ``os.replace``
memory   one dict assignment (in-process)            compare and assign under a process lock
s3       one ``PutObject`` (atomic on S3)            ``GetObject`` (body + ETag), compare,
                                                     ``PutObject`` (or ``DeleteObject``) with
                                                     ``If-Match: <etag>``, or ``PutObject``
                                                     with ``If-None-Match: *`` to create;
                                                     HTTP 412/409: another writer won
other    ``pipe_file``                               read, compare, write: NOT safe against
                                                     concurrent writers (single writer only)
======== =========================================== ==========================================
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import os
import shutil
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO

import fsspec
from fsspec.asyn import sync as _fsspec_sync
from fsspec.core import url_to_fs

from lairs_etl.errors import (
    ConfigError,
    NotFoundError,
    RefConflictError,
    RepositoryCorruptError,
    RepositoryError,
)

__all__ = ["ObjectInfo", "Storage", "open_storage"]

_LOCK_SUFFIX = ".lock"
_TMP_MARK = ".tmp-"
_MEMORY_LOCK = threading.Lock()
_BACKEND_LIBRARIES = frozenset({"botocore", "aiobotocore", "s3fs", "fsspec", "aiohttp", "gcsfs", "adlfs"})


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One stored object: its key, size in bytes and modification time (epoch seconds)."""

    key: str
    size: int
    mtime: float | None


def open_storage(url: str, storage_options: Mapping[str, object] | None = None) -> Storage:
    """Open the store at ``url`` (``file://``, a plain path, ``memory://``, ``s3://``, …).

    ``storage_options`` go to the fsspec filesystem unchanged (for S3: ``key``,
    ``secret``, ``client_kwargs={"endpoint_url": …}``, …).

    Raises:
        ConfigError: fsspec does not know the protocol or rejects the options.
    """
    try:
        fs, root = url_to_fs(url, **dict(storage_options or {}))
    except (ValueError, ImportError, TypeError) as exc:
        raise ConfigError(f"cannot open storage {url!r}: {exc}") from exc
    return Storage(fs, root.rstrip("/"), url=url)


class Storage:
    """A key → bytes store on an fsspec filesystem, with atomic puts and ref swaps.

    Contract: :meth:`get` of a missing key raises :class:`NotFoundError`; :meth:`put`
    of an existing key replaces it atomically; :meth:`swap` raises
    :class:`RefConflictError` when the stored bytes are not the expected ones.
    """

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str, *, url: str = "") -> None:
        self.fs = fs
        self.root = root
        self.url = url or root
        protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
        self.backend = next((p for p in protocols if p in _BACKENDS), "other")
        self._local = self.backend == "file"

    def __repr__(self) -> str:
        return f"Storage({self.url!r}, backend={self.backend!r})"

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}" if self.root else key

    def location(self, key: str) -> str:
        """The object's absolute URL on its backend (``file:///…``, ``s3://…``, ``memory://…``)."""
        return str(self.fs.unstrip_protocol(self._path(key)))

    # -- reads -------------------------------------------------------------------------

    def get(self, key: str) -> bytes:
        """The whole object.

        Raises:
            NotFoundError: no object under ``key``.
            RepositoryError: the backend failed.
        """
        with _translated(key):
            data: bytes = self.fs.cat_file(self._path(key))
            return data

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of an object, with one ranged read.

        Raises:
            NotFoundError: no object under ``key``.
            RepositoryCorruptError: the object is shorter than ``end``.
            RepositoryError: the backend failed.
        """
        try:
            with _translated(key):
                data: bytes = self.fs.cat_file(self._path(key), start=start, end=end)
        except (NotFoundError, RepositoryCorruptError):
            raise
        except RepositoryError as exc:
            # S3 refuses a range that starts past the end (InvalidRange) where a file
            # returns nothing: asked only after a failure, the size tells which it was.
            size = self._size_or_none(key)
            if size is not None and size <= start:
                message = f"short read of {key}: {size} bytes, nothing at byte {start}"
                raise RepositoryCorruptError(message) from exc
            raise
        if len(data) != end - start:
            raise RepositoryCorruptError(f"short read of {key}: wanted {end - start} bytes, got {len(data)}")
        return data

    def _size_or_none(self, key: str) -> int | None:
        """The object's size, or None when even that cannot be read (or the backend does not say)."""
        try:
            with _translated(key):
                size = self.fs.size(self._path(key))
        except RepositoryError:
            return None
        return size if isinstance(size, int) else None

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        with _translated(key):
            return bool(self.fs.exists(self._path(key)))

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with the folder ``prefix``, sorted by key.

        Lock and temporary files of in-flight local writes are not objects and are skipped.
        """
        base = self._path(prefix.rstrip("/"))
        with _translated(prefix):
            self.fs.invalidate_cache(base)  # another process may have written since
            try:
                found = self.fs.find(base, detail=True)
            except FileNotFoundError:
                return []
        head = f"{self.root}/" if self.root else ""
        out = []
        for path, info in found.items():
            key = path[len(head) :] if path.startswith(head) else path.lstrip("/")
            if key.endswith(_LOCK_SUFFIX) or _TMP_MARK in key or info.get("type") == "directory":
                continue
            out.append(ObjectInfo(key, int(info.get("size") or 0), _mtime(info)))
        return sorted(out, key=lambda o: o.key)

    # -- writes ------------------------------------------------------------------------

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically (readers see all of it or nothing).

        Raises:
            RepositoryError: the backend failed.
        """
        with _translated(key):
            if self._local:
                _local_replace(self._path(key), data)
            else:
                self.fs.pipe_file(self._path(key), data)

    def put_file(self, key: str, path: str) -> None:
        """Store the local file ``path`` under ``key`` atomically, without reading it into memory.

        Raises:
            RepositoryError: the backend failed.
        """
        with _translated(key):
            target = self._path(key)
            if self._local:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                tmp = f"{target}{_TMP_MARK}{uuid.uuid4().hex}"
                try:
                    shutil.copyfile(path, tmp)
                    with open(tmp, "rb") as fh:
                        os.fsync(fh.fileno())  # whole on disk before it has its name
                    os.replace(tmp, target)
                except BaseException:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(tmp)
                    raise
            else:
                self.fs.put_file(path, target)  # one PUT (s3fs: multipart) appears whole

    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        """The object as a file to read in chunks (for objects too large to hold).

        Raises:
            NotFoundError: no object under ``key``.
            RepositoryError: the backend failed.
        """
        with _translated(key), self.fs.open(self._path(key), "rb") as fh:
            yield fh

    def delete(self, key: str) -> None:
        """Remove an object; a missing one is not an error (deletes are idempotent)."""
        with _translated(key), contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(key))

    def sweep_partials(self, prefix: str, *, older_than: float) -> tuple[str, ...]:
        """Delete temp files of local writes killed mid-way (mtime before ``older_than``).

        Only the local backend leaves such files (object stores publish a PUT whole or
        not at all); they are never listed as objects. Returns the paths removed.
        """
        return tuple(_sweep_local(self._path(prefix.rstrip("/")), older_than)) if self._local else ()

    def swap(self, key: str, expected: bytes | None, new: bytes | None) -> None:
        """Replace the object under ``key`` only if it still holds ``expected``.

        ``expected=None`` means "must not exist yet"; ``new=None`` deletes.

        Raises:
            RefConflictError: the stored bytes are not ``expected`` (``actual`` carries them).
            RepositoryError: the backend failed.
        """
        with _translated(key):
            _BACKENDS.get(self.backend, _swap_unsafe)(self, key, expected, new)


# -- per-backend compare-and-swap -----------------------------------------------------


def _conflict(key: str, expected: bytes | None, actual: bytes | None) -> RefConflictError:
    def text(value: bytes | None) -> str | None:
        return None if value is None else value.decode("utf-8", "replace")

    return RefConflictError(
        f"{key} moved: expected {text(expected)!r}, found {text(actual)!r}",
        ref=key,
        expected=text(expected),
        actual=text(actual),
    )


def _read_or_none(storage: Storage, key: str) -> bytes | None:
    try:
        data: bytes = storage.fs.cat_file(storage._path(key))
    except FileNotFoundError:
        return None
    return data


def _swap_unsafe(storage: Storage, key: str, expected: bytes | None, new: bytes | None) -> None:
    actual = _read_or_none(storage, key)
    if actual != expected:
        raise _conflict(key, expected, actual)
    if new is not None:
        storage.fs.pipe_file(storage._path(key), new)
    elif actual is not None:
        storage.fs.rm_file(storage._path(key))


def _swap_memory(storage: Storage, key: str, expected: bytes | None, new: bytes | None) -> None:
    with _MEMORY_LOCK:
        _swap_unsafe(storage, key, expected, new)


def _swap_local(storage: Storage, key: str, expected: bytes | None, new: bytes | None) -> None:
    path = storage._path(key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path + _LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if this process dies
        actual = _read_or_none(storage, key)
        if actual != expected:
            raise _conflict(key, expected, actual)
        if new is not None:
            _local_replace(path, new)
        elif actual is not None:
            os.unlink(path)
    finally:
        os.close(fd)


async def _s3_get(fs: fsspec.AbstractFileSystem, bucket: str, key: str) -> tuple[bytes, str] | None:
    """Body and ETag from one GetObject, so the ETag we swap against is the bytes' own.

    A HEAD then GET could pair an old ETag with newer bytes. The body stream must be
    read inside s3fs's event loop, hence the coroutine.
    """
    try:
        resp = await fs._call_s3("get_object", Bucket=bucket, Key=key)
    except FileNotFoundError:
        return None
    async with resp["Body"] as body:
        data: bytes = await body.read()
    return data, str(resp["ETag"])


def _swap_s3(storage: Storage, key: str, expected: bytes | None, new: bytes | None) -> None:
    fs = storage.fs
    bucket, obj, _ = fs.split_path(storage._path(key))
    current = _fsspec_sync(fs.loop, _s3_get, fs, bucket, obj)
    actual = None if current is None else current[0]
    if actual != expected:
        raise _conflict(key, expected, actual)
    if current is None and new is None:
        return
    condition = {"IfNoneMatch": "*"} if current is None else {"IfMatch": current[1]}
    try:
        if new is None:
            fs.call_s3("delete_object", Bucket=bucket, Key=obj, **condition)
        else:
            fs.call_s3("put_object", Bucket=bucket, Key=obj, Body=new, **condition)
    except (FileExistsError, OSError) as exc:
        if _is_precondition_failure(exc):
            raise _conflict(key, expected, _read_or_none(storage, key)) from exc
        raise
    fs.invalidate_cache(storage._path(key))


def _is_precondition_failure(exc: BaseException) -> bool:
    if isinstance(exc, FileExistsError):
        return True
    cause = exc.__cause__
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in {"PreconditionFailed", "ConditionalRequestConflict"} or status in {409, 412}
    return False


_BACKENDS = {
    "file": _swap_local,
    "local": _swap_local,
    "memory": _swap_memory,
    "s3": _swap_s3,
    "s3a": _swap_s3,
}


# -- helpers ---------------------------------------------------------------------------


def _local_replace(path: str, data: bytes) -> None:
    """Write via a temp file in the same folder and rename: atomic on POSIX."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}{_TMP_MARK}{uuid.uuid4().hex}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _sweep_local(top: str, older_than: float) -> list[str]:
    removed = []
    for folder, _, files in os.walk(top):
        for name in files:
            path = os.path.join(folder, name)
            with contextlib.suppress(FileNotFoundError):
                if _TMP_MARK in name and os.stat(path).st_mtime < older_than:
                    os.unlink(path)
                    removed.append(path)
    return removed


def _mtime(info: Mapping[str, object]) -> float | None:
    for field in ("mtime", "LastModified", "created", "last_modified"):
        value = info.get(field)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, _dt.datetime):
            return value.timestamp()
    return None


@contextlib.contextmanager
def _translated(key: str) -> Iterator[None]:
    """Turn backend exceptions into ours at the boundary; ours pass through."""
    try:
        yield
    except RepositoryError:
        raise
    except FileNotFoundError as exc:
        raise NotFoundError(f"no object {key!r}") from exc
    except (OSError, ValueError, RuntimeError) as exc:
        raise RepositoryError(f"storage failed on {key!r}: {exc}") from exc
    except Exception as exc:
        # botocore/aiobotocore errors s3fs lets through (credentials, endpoint): matched
        # by module so that importing this module never imports botocore.
        if type(exc).__module__.partition(".")[0] in _BACKEND_LIBRARIES:
            raise RepositoryError(f"storage failed on {key!r}: {exc}") from exc
        raise
