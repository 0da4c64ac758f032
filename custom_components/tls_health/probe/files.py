"""Bounded reads of the files a user names: regular files only, and small ones."""

from __future__ import annotations

import errno
import os
import stat
from typing import Final

MAX_FILE_BYTES: Final = 1024 * 1024


class NotARegularFileError(OSError):
    """A device, FIFO, socket or directory where a certificate file was expected."""

    def __init__(self, path: str) -> None:
        """Name the path; `strerror` says why it is refused."""
        super().__init__(errno.EINVAL, "not a regular file", path)


class FileTooLargeError(OSError):
    """More bytes than any certificate or key file holds."""

    def __init__(self, path: str, limit: int) -> None:
        """Name the path and the limit."""
        super().__init__(errno.EFBIG, f"larger than {limit // 1024} KiB", path)


def read_bounded(path: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """Read a regular file of at most `limit` bytes (blocking: run it in an executor).

    The file is opened without blocking, so a FIFO cannot hold the thread, and checked before a
    byte is read; a file that grows while read is refused once it passes the limit.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFileError(path)
        if info.st_size > limit:
            raise FileTooLargeError(path, limit)
        chunks = []
        size = 0
        while chunk := os.read(fd, min(65536, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise FileTooLargeError(path, limit)
        return b"".join(chunks)
    finally:
        os.close(fd)


def file_identity(path: str) -> tuple[str, int, int, int, int] | None:
    """Return resolved path, device, inode, mtime and size: what keeps a cached read valid."""
    try:
        resolved = os.path.realpath(path)
        info = os.stat(resolved)  # noqa: PTH116
    except OSError, ValueError:
        return None
    return resolved, info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size
