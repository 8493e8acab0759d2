"""Suites: which sources ``robust-mllm generate --suite ... [--source ...] [--images ...]`` reads.

- ``sample``: the embedded scikit-image suite (``sample_lbcoco`` + ``sample_pope``).
- ``lbcoco``: the LLaVA qa90 files in ``--source DIR`` with COCO images in ``--images DIR``;
  without ``--images``, ``--source`` is a Hub id or local copy (default ``lmms-lab/llava-bench-coco``).
- ``pope``: ``coco_pope_{split}.json`` files in ``--source DIR`` with ``--images DIR``; without
  ``--images``, a Hub id or local copy (default ``lmms-lab/POPE``).
- long-tail open-ended sets ``lbwild``, ``lbwilder``, ``wvbench`` (``sources/long_tail.py``) and
  closed-form sets ``scienceqa_img``, ``mmmu``, ``mme``, ``mmstar`` (``sources/closed_form.py``):
  ``--source`` is a Hub id or a local copy in its schema (default: the published Hub id). The
  paper evaluates these unperturbed, so their default variant set is ``clean`` only
  (``default_perturbations``); ``--perturbations visual`` etc. still apply.
"""

from __future__ import annotations

from pathlib import Path

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.sources.base import Source
from robustbench_mllm.sources.hub import LBCOCO_HUB_ID, POPE_HUB_ID, HubLBCOCO, HubPOPE
from robustbench_mllm.sources.llava_qa90 import LlavaQA90
from robustbench_mllm.sources.pope import PopeFiles
from robustbench_mllm.sources.sample import SampleLBCOCO, SamplePOPE

# suites read from a Hub id or a local copy only, evaluated clean by default
UNPERTURBED_SUITES: tuple[str, ...] = ("lbwild", "lbwilder", "wvbench", "scienceqa_img", "mmmu", "mme", "mmstar")
SUITES: tuple[str, ...] = ("sample", "lbcoco", "pope", *UNPERTURBED_SUITES)
# Files that mark --source as the upstream local files (which need --images) rather than a Hub copy.
_LOCAL_FILES = {"lbcoco": "*question*.jsonl", "pope": "coco_pope_*.json"}


def _needs_images(suite: str, source: str | None) -> bool:
    return bool(source) and Path(source).is_dir() and any(Path(source).glob(_LOCAL_FILES[suite]))  # type: ignore[arg-type]


def suite_sources(
    suite: str, source: str | None = None, images: str | None = None, allow_nonstandard: bool = False
) -> list[Source]:
    if suite == "sample":
        if source or images:
            raise ConfigError("`suite` sample is embedded: it takes no `source` or `images`")
        return [SampleLBCOCO(), SamplePOPE()]
    if suite in _LOCAL_FILES and not images and _needs_images(suite, source):
        raise ConfigError(f"`source` {source} holds local {suite} files: give the COCO image folder as `images`")
    if suite == "lbcoco":
        if images:
            if not source:
                raise ConfigError("`suite` lbcoco with `images` needs `source`: the folder holding the qa90 files")
            return [LlavaQA90.from_folder(Path(source), Path(images))]
        return [HubLBCOCO(source or LBCOCO_HUB_ID)]
    if suite == "pope":
        if images:
            if not source:
                raise ConfigError(
                    "`suite` pope with `images` needs `source`: the folder holding coco_pope_{split}.json"
                )
            return [PopeFiles(Path(source), Path(images), allow_nonstandard=allow_nonstandard)]
        return [HubPOPE(source or POPE_HUB_ID)]
    if suite in UNPERTURBED_SUITES:
        if images:
            raise ConfigError(f"`suite` {suite} reads a Hub id or a local copy (`source`); it takes no `images`")
        from robustbench_mllm.registry import load_registry

        factory = load_registry("sources").get(suite)
        return [factory(id_or_path=source) if source else factory()]
    raise ConfigError(f"unknown suite {suite!r}; choose one of {', '.join(SUITES)}")


def default_perturbations(suite: str) -> str | None:
    """The ``--perturbations`` selection when none is given (None: the default for the task)."""
    return "clean" if suite in UNPERTURBED_SUITES else None
