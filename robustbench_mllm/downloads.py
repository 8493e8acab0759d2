"""Third-party files fetched at run time: a pinned URL and sha256, cached in the user's cache folder.

We never ship another project's files (judge rules, estimator checkpoints); a ``PinnedFile`` names
where the reference copy lives and what its bytes must hash to. ``fetch_pinned`` returns the cached
copy when its hash still matches (no request at all), else downloads it, refuses bytes whose hash
differs, and moves the verified file into the cache atomically. The cache folder is
``$XDG_CACHE_HOME/robust-mllm/downloads`` (``~/.cache/...`` when unset).
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from robustbench_mllm.errors import DataFormatError, MissingResourceError
from robustbench_mllm.io_utils import atomic_write_bytes, sha256_file

TIMEOUT_S = 60.0


@dataclass(frozen=True)
class PinnedFile:
    """``url`` pinned to a commit; ``name`` is the cached file's name and what messages call it."""

    name: str
    url: str
    sha256: str
    size: int | None = None
    description: str = ""

    @property
    def label(self) -> str:
        return self.description or self.name


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "robust-mllm" / "downloads"


def cached_path(pinned: PinnedFile, cache_dir: Path | None = None) -> Path:
    # the hash in the folder name keeps two pins of one file name apart
    return Path(cache_dir or user_cache_dir()) / pinned.sha256[:16] / pinned.name


def fetch_pinned(pinned: PinnedFile, cache_dir: Path | None = None, alternatives: str = "") -> Path:
    """The verified local copy of ``pinned``. ``alternatives`` ends the offline message (what the
    user can do instead, e.g. give a local file)."""
    path = cached_path(pinned, cache_dir)
    if path.is_file() and sha256_file(path) == pinned.sha256:
        return path
    try:
        with urllib.request.urlopen(pinned.url, timeout=TIMEOUT_S) as response:  # noqa: S310 (pinned https URL)
            data = response.read()
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        hint = f"; {alternatives}" if alternatives else ""
        raise MissingResourceError(
            f"{pinned.label} is not in the cache ({path.parent}) and could not be downloaded from "
            f"{pinned.url} ({reason}){hint}"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != pinned.sha256 or (pinned.size is not None and len(data) != pinned.size):
        raise DataFormatError(
            f"{pinned.url}: downloaded {pinned.label} has sha256 {digest[:16]}... ({len(data)} bytes), "
            f"expected {pinned.sha256[:16]}...{f' ({pinned.size} bytes)' if pinned.size else ''}; refused"
        )
    atomic_write_bytes(path, data)
    return path


def verify_file(path: Path, pinned: PinnedFile) -> bool:
    """Whether a user-supplied local file is the pinned one (recorded, not required)."""
    return sha256_file(path) == pinned.sha256
