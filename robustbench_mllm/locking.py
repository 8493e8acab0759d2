"""One writer per output folder: a second `generate` or `evaluate` on the same folder would
interleave temp files or append the same predictions twice, so it is refused up front."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".robust-mllm.lock"


class FolderBusyError(OSError):
    """Another process holds the folder's lock."""


@contextmanager
def folder_lock(folder: Path, command: str) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``folder`` (released by the OS if the process dies)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusyError(
                f"{folder}: another `robust-mllm {command}` is writing here; wait for it or use another output folder"
            ) from None
        yield
    finally:
        os.close(fd)
