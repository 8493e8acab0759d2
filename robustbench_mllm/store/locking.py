"""One writer per output folder: a second `generate` or `evaluate` on the same folder would
interleave temp files or append the same predictions twice, so it is refused up front. The lock
is ``filelock``'s (flock on POSIX, msvcrt on Windows), so the package imports on every OS."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from robustbench_mllm.errors import FolderBusyError

LOCK_NAME = ".robust-mllm.lock"


@contextmanager
def folder_lock(folder: Path, command: str, *, started_marker: str | None = None) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``folder`` (released by the OS if the process dies).

    With ``started_marker``, a folder this call created is removed again when the command fails
    before writing that file (e.g. a typo in an option), so a failed start leaves nothing behind.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with _locked(folder, command):
            yield
    except BaseException:
        if created and started_marker and not (folder / started_marker).exists():
            shutil.rmtree(folder, ignore_errors=True)
        raise


@contextmanager
def _locked(folder: Path, command: str) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock = FileLock(folder / LOCK_NAME)
    try:
        lock.acquire(timeout=0)  # refuse at once rather than wait for the other writer
    except Timeout:
        raise FolderBusyError(
            f"{folder}: another `robust-mllm {command}` is writing here; wait for it or use another output folder"
        ) from None
    try:
        yield
    finally:
        lock.release()
