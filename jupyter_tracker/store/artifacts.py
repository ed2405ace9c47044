"""Content-addressed files beside the store: models, figures and logged files.

A file lives at ``artifacts/<first two hex digits>/<xxh3-128 of its bytes>``: the same
bytes are stored once, however many runs log them. Bytes are hashed while they are
written, in chunks (a logged file is copied 1 MiB at a time, a model is pickled straight
into the hashing writer), so nothing is ever held in memory whole. A file is first
written under a temporary name and then renamed into place, so a reader never sees half
a file and two processes storing the same bytes at once both succeed.

A process killed while writing leaves its temporary ``.incoming-*`` file behind. The writer
holds an advisory lock on it while it writes, so ``doctor`` can tell such a leftover from a
file another process is writing right now, and removes only the leftovers (issue 10).
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable

import xxhash

from ..errors import ArtifactNotFound, StoreError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; only the age of a temporary file tells it was abandoned
    fcntl = None  # type: ignore[assignment]

CHUNK = 1 << 20  # bytes copied at a time: memory stays flat whatever the file's size
INCOMING = ".incoming-"  # prefix of the temporary files being written
# A temporary file is a leftover once nobody holds its lock and it has not been written to for this long:
# the lock is taken an instant after the file is created, and released an instant before it is renamed.
ABANDONED_AFTER_SECONDS = 60.0 if fcntl is not None else 3600.0


class HashingWriter:
    """A binary file object that hashes what it writes (pickle and savefig write into it)."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._hasher = xxhash.xxh3_128()
        self.size = 0

    def write(self, data: Any) -> int:
        # pickle hands over large buffers as memoryviews: hash and write them without a copy.
        self._hasher.update(data)
        self._handle.write(data)
        written = memoryview(data).nbytes
        self.size += written
        return written

    def flush(self) -> None:
        self._handle.flush()

    def writable(self) -> bool:
        return True

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()


class ArtifactFiles:
    """The content-addressed folder of one store.

    For example::

        files = ArtifactFiles(Path("/tmp/example/artifacts"))
        digest, size = files.put_file("model.onnx")
        files.path(digest).read_bytes() == Path("model.onnx").read_bytes()
        True
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def existing(self, digest: str, what: str) -> Path:
        """The stored file of ``digest``; ArtifactNotFound naming ``what`` if it has gone missing."""
        path = self.path(digest)
        if not path.is_file():
            raise ArtifactNotFound(f"the stored file of {what} is missing: {path}")
        return path

    def put_file(self, source: str | os.PathLike) -> tuple[str, int]:
        """Store a copy of the file at ``source``; return its hash and size."""
        try:
            handle = open(source, "rb")
        except OSError as error:
            raise ArtifactNotFound(f"cannot read '{source}': {error.strerror}") from None
        with handle:
            return self.put_stream(lambda writer: _copy(handle, writer))

    def put_stream(self, produce: Callable[[HashingWriter], None]) -> tuple[str, int]:
        """Store what ``produce`` writes into the writer it is given; return its hash and size."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create the artifacts folder {self.root}: {error.strerror}") from None
        temporary = self.root / f"{INCOMING}{secrets.token_hex(8)}"
        try:
            with open(temporary, "wb") as handle:
                if fcntl is not None:
                    fcntl.flock(handle, fcntl.LOCK_EX)  # released when this process ends, however it ends
                writer = HashingWriter(handle)
                produce(writer)
            digest = writer.hexdigest()
            target = self.path(digest)
            if target.is_file() and target.stat().st_size == writer.size:
                temporary.unlink()  # already stored: the same bytes are kept once
            else:
                target.parent.mkdir(exist_ok=True)
                os.chmod(temporary, 0o444)  # content-addressed files are never modified in place
                os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return digest, writer.size

    def put_bytes(self, data: bytes, digest: str) -> None:
        """Store bytes that were stored elsewhere under ``digest`` (a Dask worker's store), checking them.

        For example::

            files.put_bytes(data, xxhash.xxh3_128_hexdigest(data))
        """
        if xxhash.xxh3_128_hexdigest(data) != digest:
            raise StoreError(f"the artifact file {digest} came back damaged: its bytes do not match their hash")
        self.put_stream(lambda writer: writer.write(data))

    def check(self, digest: str, size: int, by_content: bool = True) -> str | None:
        """What is wrong with the stored file of ``digest``, None if it is there whole.

        For example::

            files.check(artifact.hash, artifact.size)  # None, "is missing", "has 12 bytes, not 340", ...
        """
        path = self.path(digest)
        try:
            found = path.stat().st_size
            if found != size:
                return f"has {found} bytes, not {size}"
            if by_content:
                hasher = xxhash.xxh3_128()
                with open(path, "rb") as handle:
                    while chunk := handle.read(CHUNK):
                        hasher.update(chunk)
                if hasher.hexdigest() != digest:
                    return "no longer matches its hash"
        except FileNotFoundError:
            return "is missing"
        except OSError as error:
            return f"is unreadable ({error.strerror})"
        return None

    def clean_incoming(self, now: float | None = None) -> "IncomingFiles":
        """Remove the temporary files that killed processes left half-written; keep those being written.

        For example::

            files.clean_incoming().removed
            ['.incoming-3f2a1b0c9d8e7f60']
        """
        now = time.time() if now is None else now
        removed, kept, failed = [], [], []
        try:
            candidates = sorted(self.root.glob(f"{INCOMING}*"))
        except OSError:
            candidates = []
        for path in candidates:
            try:
                abandoned = _abandoned(path, now)
                if abandoned:
                    path.unlink()
            except FileNotFoundError:
                continue  # renamed into place, or removed, meanwhile
            except OSError as error:
                failed.append(f"{path.name} ({error.strerror})")
                continue
            (removed if abandoned else kept).append(path.name)
        return IncomingFiles(removed, kept, failed)


@dataclass(frozen=True)
class IncomingFiles:
    """What ``clean_incoming`` found: leftovers removed, files still being written, leftovers it could not remove."""

    removed: list[str]
    kept: list[str]
    failed: list[str]


def _abandoned(path: Path, now: float) -> bool:
    if now - path.stat().st_mtime < ABANDONED_AFTER_SECONDS:
        return False
    if fcntl is None:
        return True
    with open(path, "rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live process holds it: still being written
        return True  # (the lock goes with the handle)


def _copy(handle: BinaryIO, writer: HashingWriter) -> None:
    while chunk := handle.read(CHUNK):
        writer.write(chunk)
