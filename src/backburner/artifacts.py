"""Artifacts: a job's binary outputs (images, audio, video) kept in a blob store.

```python
@app.task()
async def portrait(ctx: bb.Context, data: PortraitIn) -> dict[str, str]:
    png = await images.generate(data.prompt)
    return {"image": await ctx.save_artifact("portrait.png", png, "image/png")}
```

`Context.save_artifact` returns the artifact's URL, ``/v1/jobs/{id}/artifacts/{name}``, which
the API serves with the job's own owner check (a browser adds ``?access_token=`` to an
``<img src>``), streamed in chunks and by byte range, never whole in memory. Deleting a job
deletes its artifacts; those of jobs pruned by retention are swept by `Artifacts.sweep`. The
store is a local directory by default (`LocalBlobStore`); any object with `BlobStore`'s five
methods — an S3-compatible bucket, say, whose ranged GET serves `BlobReader.chunks` — can
take its place.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from .config import SQLITE_SCHEMES, Settings
from .errors import InvalidInput, JobNotFound
from .storage.sqlite import sqlite_path

__all__ = [
    "Artifact",
    "ArtifactNotFound",
    "Artifacts",
    "Blob",
    "BlobReader",
    "BlobStore",
    "LocalBlobStore",
]

#: An artifact's name: a file name without a directory, not starting with a dot.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*", re.I)
#: A job id as the blob store's top-level prefix (uuid-like; never a path).
_JOB_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
#: How much of a blob is read (and sent) at a time.
CHUNK_BYTES = 256 * 1024


class ArtifactNotFound(JobNotFound):
    """No such artifact (like a missing job, the API answers 404)."""


@dataclass(frozen=True)
class Blob:
    """What a blob store holds under a key: the bytes and their media type."""

    data: bytes
    content_type: str


@dataclass(frozen=True)
class Artifact:
    """A saved artifact: its job, name, media type, size, and the URL the API serves it at."""

    job_id: str
    name: str
    content_type: str
    size: int

    @property
    def url(self) -> str:
        """Where the API serves it (relative to the API's base URL)."""
        return artifact_url(self.job_id, self.name)


class BlobReader(Protocol):
    """A blob opened to be served: its media type and size now, its bytes in chunks."""

    content_type: str
    size: int

    def chunks(self, first: int, last: int) -> AsyncIterator[bytes]:
        """The bytes from ``first`` to ``last`` (inclusive), a chunk at a time; the reader is
        closed when they end (or the iteration is closed)."""
        ...

    async def close(self) -> None:
        """Release the blob without reading it (calling it twice is harmless)."""


class BlobStore(Protocol):
    """Where artifacts live. Keys are ``{job_id}/{name}``; implementations need nothing more
    than put, get, open (for serving), delete-by-prefix and a listing of the top-level
    prefixes."""

    async def put(self, key: str, blob: Blob) -> None:
        """Store ``blob`` under ``key``, replacing what was there, atomically for readers."""

    async def get(self, key: str) -> Blob | None:
        """The blob under ``key``, or ``None``."""

    async def open(self, key: str) -> BlobReader | None:
        """The blob under ``key`` opened for reading in ranges, or ``None``: later writes to
        the key do not change what it reads."""

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every blob under ``{prefix}/``; how many there were."""

    async def prefixes(self) -> list[str]:
        """The top-level prefixes (job ids) that hold blobs."""


class LocalBlobStore:
    """Blobs as files under ``root``: ``{job_id}/{name}``, the media type beside it in
    ``{job_id}/.{name}.type``. Every process that serves or saves artifacts must see the
    same directory (one machine, or a shared volume)."""

    def __init__(self, root: Path) -> None:
        #: The directory that holds one sub-directory per job.
        self.root = root

    async def put(self, key: str, blob: Blob) -> None:
        """Write to a temporary file, then rename: a reader sees the old or the new blob."""
        await asyncio.to_thread(self._put, key, blob)

    async def get(self, key: str) -> Blob | None:
        """The file's bytes and recorded media type, or ``None`` if it is not there."""
        return await asyncio.to_thread(self._get, key)

    async def open(self, key: str) -> BlobReader | None:
        """The file opened (a later `put` replaces the name, not what this reads)."""
        return await asyncio.to_thread(self._open, key)

    async def delete_prefix(self, prefix: str) -> int:
        """Remove the job's directory."""
        return await asyncio.to_thread(self._delete, prefix)

    async def prefixes(self) -> list[str]:
        """The job directories."""
        return await asyncio.to_thread(self._prefixes)

    def _paths(self, key: str) -> tuple[Path, Path]:
        job_id, _, name = key.partition("/")
        folder = self.root / job_id
        return folder / name, folder / f".{name}.type"

    def _put(self, key: str, blob: Blob) -> None:
        data_path, type_path = self._paths(key)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        for path, content in ((type_path, blob.content_type.encode()), (data_path, blob.data)):
            temporary = path.parent / f".tmp-{uuid.uuid4().hex}"
            temporary.write_bytes(content)
            os.replace(temporary, path)

    def _get(self, key: str) -> Blob | None:
        data_path, type_path = self._paths(key)
        try:
            return Blob(data_path.read_bytes(), type_path.read_text())
        except FileNotFoundError:
            return None

    def _open(self, key: str) -> BlobReader | None:
        data_path, type_path = self._paths(key)
        try:
            file = data_path.open("rb")
        except FileNotFoundError:
            return None
        try:
            content_type = type_path.read_text()
        except FileNotFoundError:
            file.close()
            return None
        return _FileReader(file, content_type, os.fstat(file.fileno()).st_size)

    def _delete(self, prefix: str) -> int:
        folder = self.root / prefix
        if not folder.is_dir():
            return 0
        count = sum(1 for path in folder.iterdir() if not path.name.startswith("."))
        shutil.rmtree(folder, ignore_errors=True)
        return count

    def _prefixes(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(path.name for path in self.root.iterdir() if path.is_dir())


class _FileReader:
    """`BlobReader` over an open file: positioned reads in a thread, a chunk at a time."""

    def __init__(self, file: BinaryIO, content_type: str, size: int) -> None:
        self._file = file
        self.content_type = content_type
        self.size = size

    async def chunks(self, first: int, last: int) -> AsyncIterator[bytes]:
        try:
            position = first
            while position <= last:
                wanted = min(CHUNK_BYTES, last + 1 - position)
                chunk = await asyncio.to_thread(os.pread, self._file.fileno(), wanted, position)
                if not chunk:
                    return
                position += len(chunk)
                yield chunk
        finally:
            await self.close()

    async def close(self) -> None:
        self._file.close()


def artifacts_dir(settings: Settings) -> Path:
    """Where artifacts go: ``artifacts_dir`` if set, else beside a SQLite database
    (``jobs.db`` → ``jobs.artifacts/``), else ``./backburner-artifacts``."""
    if settings.artifacts_dir:
        return Path(settings.artifacts_dir)
    if settings.database_url.split(":", 1)[0].lower() in SQLITE_SCHEMES:
        database = sqlite_path(settings.database_url)
        return database.with_name(f"{database.stem}.artifacts")
    return Path("backburner-artifacts")


def artifact_url(job_id: str, name: str) -> str:
    """The API path of a job's artifact."""
    return f"/v1/jobs/{job_id}/artifacts/{name}"


def check_name(name: object) -> str:
    """An artifact name, or `InvalidInput` saying what is wrong with it."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"name: {name!r} must be a file name of letters, digits, '.', '_' and '-' "
            "(at most 128, not starting with '.')"
        )
    return name


def _key(job_id: str, name: str) -> str | None:
    """The store's key for a job's artifact; ``None`` when either part could not be one."""
    return f"{job_id}/{name}" if _NAME.fullmatch(name) and _JOB_ID.fullmatch(job_id) else None


def _not_found(job_id: str, name: str) -> ArtifactNotFound:
    return ArtifactNotFound(f"job {job_id!r} has no artifact {name!r}")


def _check_content_type(content_type: object) -> str:
    if not isinstance(content_type, str) or not _CONTENT_TYPE.fullmatch(content_type):
        raise InvalidInput(f"content_type: {content_type!r} is not a media type like image/png")
    return content_type.lower()


class Artifacts:
    """``app.artifacts``: save, read and delete jobs' artifacts in the app's blob store."""

    def __init__(self, store: BlobStore, max_bytes: int) -> None:
        #: Where the bytes go.
        self.store = store
        #: The largest artifact accepted.
        self.max_bytes = max_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> Artifacts:
        """A local directory store as the settings say (see `artifacts_dir`)."""
        return cls(LocalBlobStore(artifacts_dir(settings)), settings.max_artifact_bytes)

    async def save(self, job_id: str, name: str, data: bytes, content_type: str) -> Artifact:
        """Store ``data`` as the job's artifact ``name`` (replacing one of that name)."""
        check_name(name)
        media_type = _check_content_type(content_type)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput(f"data: must be bytes, got {type(data).__name__}")
        if len(data) > self.max_bytes:
            raise InvalidInput(f"data: {len(data):,} bytes is over the {self.max_bytes:,} limit")
        await self.store.put(f"{job_id}/{name}", Blob(bytes(data), media_type))
        return Artifact(job_id, name, media_type, len(data))

    async def read(self, job_id: str, name: str) -> Blob:
        """The artifact's bytes and media type, whole; `ArtifactNotFound` if there is none."""
        key = _key(job_id, name)
        blob = None if key is None else await self.store.get(key)
        if blob is None:
            raise _not_found(job_id, name)
        return blob

    async def open(self, job_id: str, name: str) -> BlobReader:
        """The artifact opened to be served in chunks or ranges; `ArtifactNotFound` if there
        is none."""
        key = _key(job_id, name)
        reader = None if key is None else await self.store.open(key)
        if reader is None:
            raise _not_found(job_id, name)
        return reader

    async def delete_job(self, job_id: str) -> int:
        """Delete all of a job's artifacts; how many there were."""
        if not _JOB_ID.fullmatch(job_id):
            return 0
        return await self.store.delete_prefix(job_id)

    async def sweep(self, existing: Callable[[list[str]], Awaitable[set[str]]]) -> int:
        """Delete the artifacts of jobs that no longer exist (pruned by retention): those
        whose id ``existing`` (given a batch of ids) leaves out. How many jobs were swept."""
        swept = 0
        held = await self.store.prefixes()
        for start in range(0, len(held), 100):
            batch = held[start : start + 100]
            alive = await existing(batch)
            for job_id in batch:
                if job_id not in alive and await self.store.delete_prefix(job_id) >= 0:
                    swept += 1
        return swept
