"""The EMID stage (``robust-mllm emid``): EMI / EMID and the bound terms of one evaluated run folder.

Reads RUN/run.json (the generated data folder, key ``data``; ``EmidConfig.data`` overrides),
RUN/predictions/<dataset>/<variant>.jsonl and the generated items; embeds images, questions,
model answers and reference answers (cached in RUN/embeddings/, so a rerun embeds nothing); gets a
CLUB estimator (an ``estimator`` folder, or trained on the ``train_on`` runs, by default on this run,
saved in RUN/emid/estimator/ and reused while its training data is unchanged); writes the results
section "emid".

Scope: like the paper (open-ended LB-COCO answers vs GPT-4 references), only the open-ended
datasets of the run by default, decided by the judge's own predicate (``records.is_open_ended``:
a reference answer and no yes/no label). ``datasets`` names them explicitly; a yes/no dataset
named there is used with its labels as the reference answers, and the command warns about it
(the estimator then also learns from one-word answers, unlike the paper's EMID).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import ConfigError, DataFormatError, MissingResourceError
from robustbench_mllm.metrics.club import ClubEstimator, ClubShape, ClubTraining, data_fingerprint, describe, train_club
from robustbench_mllm.metrics.embeddings import (
    DEFAULT_IMAGE_ENCODER,
    DEFAULT_TEXT_ENCODER,
    ImageEmbedder,
    ImagePooling,
    TextEmbedder,
    TextPooling,
    image_bytes,
)
from robustbench_mllm.metrics.emid import VariantEmbeddings, emid_report, training_pairs
from robustbench_mllm.metrics.jsd import JSDKind
from robustbench_mllm.records import Item, is_open_ended
from robustbench_mllm.store.layout import embeddings_dir, estimator_dir, predictions_dir, predictions_file, variant_file
from robustbench_mllm.store.predictions import predicted_datasets, read_answers
from robustbench_mllm.store.results import update_results
from robustbench_mllm.store.run_info import data_folder
from robustbench_mllm.store.variants import load_items

RunEmbeddings = dict[str, dict[str, VariantEmbeddings]]  # dataset -> variant -> embeddings


@dataclass(frozen=True)
class ScopedEmbeddings:
    embeddings: RunEmbeddings
    closed_form: tuple[str, ...]  # yes/no datasets: skipped by default, label-referenced when named


@dataclass(frozen=True)
class EmidConfig:
    run_dir: Path
    data: Path | None = None
    estimator: Path | None = None
    train_on: tuple[Path, ...] = ()  # empty: train on run_dir itself
    datasets: tuple[str, ...] = ()  # empty: every open-ended dataset of the run
    image_encoder: str = DEFAULT_IMAGE_ENCODER
    text_encoder: str = DEFAULT_TEXT_ENCODER
    image_pooling: ImagePooling = "patch_mean"
    text_pooling: TextPooling = "layer0_mean"
    jsd_kind: JSDKind = "linear"
    permutations: int = 20
    seed: int = 0
    entropy_scale: float | None = None
    batch_size: int = 32
    device: str = "cpu"
    training: ClubTraining = ClubTraining()


@dataclass
class Embedders:
    image: ImageEmbedder
    text: TextEmbedder

    @property
    def forward_calls(self) -> int:
        return self.image.forward_calls + self.text.forward_calls


def make_embedders(config: EmidConfig, run_dir: Path) -> Embedders:
    cache = embeddings_dir(run_dir)
    common: dict[str, Any] = {"cache_root": cache, "batch_size": config.batch_size, "device": config.device}
    return Embedders(ImageEmbedder(config.image_encoder, config.image_pooling, **common),
                     TextEmbedder(config.text_encoder, config.text_pooling, **common))


def embed_variant(run_dir: Path, data: Path, dataset: str, variant: str, items: Sequence[Item],
                  reference_field: str, embedders: Embedders) -> VariantEmbeddings:
    """The answered ``items`` of one variant, embedded (in the generated file's item order), each
    against its ``reference_field`` (``reference_answer``, or ``label`` for a named yes/no set)."""
    answers = read_answers(run_dir, dataset, variant)
    answered = [item for item in items if item.id in answers]
    where = variant_file(data, dataset, variant)
    references = []
    for item in answered:
        reference = getattr(item, reference_field)
        if not reference:
            raise DataFormatError(f"{where}: item {item.id!r}: field {reference_field!r} is empty")
        references.append(reference)
    if not answered:
        raise DataFormatError(f"{predictions_file(run_dir, dataset, variant)}: no answers match items in {where}")
    text = embedders.text
    return VariantEmbeddings(
        ids=tuple(item.id for item in answered),
        image=embedders.image.embed([image_bytes(item.image, f"{where}: item {item.id!r}") for item in answered]),
        question=text.embed([item.question.encode("utf-8") for item in answered]),
        answer=text.embed([answers[item.id].encode("utf-8") for item in answered]),
        reference=text.embed([r.encode("utf-8") for r in references]),
    )


def _predicted_datasets(run_dir: Path) -> dict[str, tuple[str, ...]]:
    """dataset -> its predicted variants, clean first."""
    found = predicted_datasets(run_dir)
    if not found:
        raise MissingResourceError(f"{predictions_dir(run_dir)}: no predictions (run `robust-mllm evaluate` first)")
    return found


def embed_run(run_dir: Path, data: Path, embedders: Embedders, datasets: Sequence[str] = (),
              on_variant: Callable[[str], None] | None = None) -> ScopedEmbeddings:
    """Embed the open-ended datasets of a run (the judge's predicate), or exactly ``datasets``."""
    by_dataset = _predicted_datasets(run_dir)
    unknown = [name for name in datasets if name not in by_dataset]
    if unknown:
        raise ConfigError(f"{predictions_dir(run_dir)}: no predictions for `datasets` {', '.join(unknown)} "
                         f"(have {', '.join(by_dataset)})")
    found: RunEmbeddings = {}
    closed_form: list[str] = []
    for dataset, variants in by_dataset.items():
        if datasets and dataset not in datasets:
            continue
        reference_field = "reference_answer"
        for variant in variants:
            items = load_items(data, dataset, variant)
            if variant == variants[0] and not any(is_open_ended(item) for item in items):
                closed_form.append(dataset)
                if not datasets:
                    break  # yes/no data: out of EMID's default scope (no reference answers)
                reference_field = "label"  # named explicitly: its yes/no labels stand in for references
            found.setdefault(dataset, {})[variant] = embed_variant(
                run_dir, data, dataset, variant, items, reference_field, embedders)
            if on_variant:
                on_variant(f"{dataset}/{variant}")
    if not found:
        raise ConfigError(f"{predictions_dir(run_dir)}: no open-ended dataset (yes/no: {', '.join(closed_form)}); "
                          "EMID compares answers with reference answers; name a dataset in `datasets` to use "
                          "its labels as references")
    return ScopedEmbeddings(found, tuple(closed_form))


def obtain_estimator(config: EmidConfig, training_runs: Sequence[RunEmbeddings]) -> tuple[ClubEstimator, Path]:
    """``config.estimator`` as given; otherwise train (or reuse the saved one trained on the same data)."""
    if config.estimator is not None:
        return ClubEstimator.load(config.estimator), Path(config.estimator)
    x, y = training_pairs(emb for run in training_runs for ds in run.values() for emb in ds.values())
    folder = estimator_dir(config.run_dir)
    if folder.exists():
        saved = ClubEstimator.load(folder)
        if saved.info.get("data_sha256") == data_fingerprint(x, y) and saved.training == config.training:
            return saved, folder
    estimator = train_club(x, y, ClubShape(x.shape[1], y.shape[1]), config.training)
    estimator.save(folder)
    return estimator, folder


def run_emid(config: EmidConfig, embedders: Embedders | None = None,
             on_variant: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Embed, estimate, report; returns (and stores) the "emid" results section."""
    embedders = embedders or make_embedders(config, config.run_dir)
    scoped = embed_run(config.run_dir, data_folder(config.run_dir, config.data), embedders,
                       config.datasets, on_variant)
    this_run = scoped.embeddings
    training_runs = [this_run]
    if config.estimator is None and config.train_on:
        training_runs = []
        for other in config.train_on:
            other_embedders = make_embedders(config, other)
            training_runs.append(embed_run(other, data_folder(other, None), other_embedders,
                                           config.datasets, on_variant).embeddings)
    for dataset, variants in this_run.items():
        if "clean" not in variants:
            raise MissingResourceError(f"{predictions_dir(config.run_dir) / dataset}: no clean.jsonl; "
                             "EMID compares every variant with the clean one")
    estimator, estimator_path = obtain_estimator(config, training_runs)
    datasets = {
        dataset: emid_report(estimator, variants, kind=config.jsd_kind, permutations=config.permutations,
                             seed=config.seed, entropy_scale=config.entropy_scale)
        for dataset, variants in this_run.items()
    }
    payload = {
        "image_encoder": embedders.image.describe(),
        "text_encoder": embedders.text.describe(),
        "estimator": {"path": str(estimator_path), **describe(estimator),
                      "trained_on": [str(p) for p in (config.train_on or (config.run_dir,))]
                      if config.estimator is None else None},
        "jsd": {"kind": config.jsd_kind, "permutations": config.permutations, "seed": config.seed},
        "dataset_scope": "named" if config.datasets else "open_ended",
        # named: yes/no datasets whose labels served as references; default: the ones skipped
        "closed_form_datasets": list(scoped.closed_form),
        "bound_form": "scale_adjusted" if config.entropy_scale is None else f"entropy_scale={config.entropy_scale}",
        "datasets": datasets,
    }
    update_results(config.run_dir, "emid", payload)
    return payload
