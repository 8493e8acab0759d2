"""Publish a generated suite as one Hub dataset repo: stage the folder, then upload it whole.

The staged folder is exactly what goes up: each variant's generated parquet (byte for byte, or
without the columns empty in every row: ``store.published``; its ``datasets`` schema metadata keeps
the image column a ``datasets.Image``), at ``<config>/test-00000-of-00001.parquet`` as
``push_to_hub`` would lay it out, plus the rendered card as README.md and the sources' licenses
as LICENSE.md. ``--dry-run DIR`` stops after staging into DIR;
otherwise one ``upload_folder`` commit sends the staged folder, so a repo never holds half a suite
or a card that disagrees with its files (``push_to_hub`` would make one commit per config, each
rewriting the README).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm import __version__
from robustbench_mllm.errors import ConfigError, MissingResourceError
from robustbench_mllm.io_utils import atomic_write_text, sha256_file
from robustbench_mllm.publish.card import LICENSE_FILE, PublishedConfig, license_text, render_card
from robustbench_mllm.publish.configs import HubConfig, plan_configs
from robustbench_mllm.store.manifest import read_manifest
from robustbench_mllm.store.published import write_published


class MissingTokenError(MissingResourceError):
    """No Hub token: neither ``HF_TOKEN`` nor one stored by ``hf auth login``."""


@dataclass(frozen=True)
class Staged:
    folder: Path
    configs: tuple[HubConfig, ...]


def stage(generated: Path, repo_id: str, folder: Path, pretty_name: str | None = None) -> Staged:
    """Write the repo's files into ``folder`` (created; files already there are replaced)."""
    configs = plan_configs(generated)
    folder.mkdir(parents=True, exist_ok=True)
    published = []
    for config in configs:
        target = folder / config.path_in_repo
        target.parent.mkdir(parents=True, exist_ok=True)
        published.append(PublishedConfig(config, write_published(config.source_file, target), sha256_file(target)))
    name = pretty_name or default_pretty_name(repo_id)
    atomic_write_text(folder / "README.md", render_card(generated, published, repo_id, name))
    atomic_write_text(folder / LICENSE_FILE, license_text(read_manifest(generated), name))
    return Staged(folder, tuple(configs))


def default_pretty_name(repo_id: str) -> str:
    return f"{repo_id.split('/')[-1]} (robust-mllm shifted suite)"


def hub_token() -> str:
    """The token huggingface_hub itself would use: ``HF_TOKEN``, else the one ``hf auth login``
    stored. Never logged: it goes only into the HfApi client."""
    from huggingface_hub import get_token

    token = (get_token() or "").strip()
    if not token:
        raise MissingTokenError("no Hub token: run `hf auth login` or set HF_TOKEN to a token with write access "
                                "(or stage only, with `dry_run` DIR)")
    return token


def default_api(token: str) -> Any:
    from huggingface_hub import HfApi

    return HfApi(token=token, library_name="robust-mllm", library_version=__version__)


def upload(staged: Staged, repo_id: str, *, private: bool,
           api_factory: Callable[[str], Any] | None = None) -> str:
    """Create the dataset repo if needed and upload the staged folder in one commit; returns the
    commit URL (or whatever the API returns for it). ``api_factory(token)`` builds the HfApi."""
    api = (api_factory or default_api)(hub_token())
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    result = api.upload_folder(
        repo_id=repo_id, repo_type="dataset", folder_path=str(staged.folder),
        commit_message=f"robust-mllm {__version__}: {len(staged.configs)} configs",
        # Configs removed from the suite since the last upload must not linger in the repo.
        delete_patterns=["*/test-*.parquet"],
    )
    return str(getattr(result, "commit_url", result))


def publish(generated: Path, repo_id: str, *, private: bool = False, dry_run: Path | None = None,
            pretty_name: str | None = None, api_factory: Callable[[str], Any] | None = None) -> Staged | str:
    """Stage into ``dry_run`` and stop there, or stage into a temporary folder and upload it."""
    _check_repo_id(repo_id)
    if dry_run is not None:
        return stage(generated, repo_id, Path(dry_run), pretty_name)
    hub_token()  # fail before copying gigabytes when there is no token
    with tempfile.TemporaryDirectory(prefix="robust-mllm-publish-") as tmp:
        return upload(stage(generated, repo_id, Path(tmp), pretty_name), repo_id, private=private,
                      api_factory=api_factory)


def _check_repo_id(repo_id: str) -> None:
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"`repo_id` {repo_id!r}: expected OWNER/NAME")
