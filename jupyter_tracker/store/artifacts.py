"""Content-addressed files beside the store: models, figures and logged files.

A file lives at ``artifacts/<first two hex digits>/<xxh3-128 of its bytes>``: the same
bytes are stored once, however many runs log them. Bytes are hashed while they are
written, in chunks (a logged file is copied 1 MiB at a time, a model is pickled straight
into the hashing writer), so nothing is ever held in memory whole. A file is first
written under a temporary name and then renamed into place, so a reader never sees half
a file and two processes storing the same bytes at once both succeed.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, BinaryIO, Callable

import xxhash

from ..errors import ArtifactNotFound, StoreError

CHUNK = 1 << 20  # bytes copied at a time: memory stays flat whatever the file's size


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

    >>> files = ArtifactFiles(Path("/tmp/example/artifacts"))
    >>> digest, size = files.put_file("model.onnx")
    >>> files.path(digest).read_bytes() == Path("model.onnx").read_bytes()
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
        temporary = self.root / f".incoming-{secrets.token_hex(8)}"
        try:
            with open(temporary, "wb") as handle:
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


def _copy(handle: BinaryIO, writer: HashingWriter) -> None:
    while chunk := handle.read(CHUNK):
        writer.write(chunk)
