"""``robust-mllm emid``: EMI / EMID and the bound terms of one evaluated run folder.

Reads RUN/run.json (the generated data folder, key ``data``; ``--data`` overrides),
RUN/predictions/<dataset>/<variant>.jsonl and the generated items; embeds images, questions,
model answers and reference answers (cached in RUN/embeddings/, so a rerun embeds nothing); gets a
CLUB estimator (``--estimator`` folder, or trained on ``--train-on`` runs, by default on this run,
saved in RUN/emid/estimator/ and reused while its training data is unchanged); writes the results
section "emid".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.io_utils import DataFormatError
from robustbench_mllm.layout import predictions_file, variant_file
from robustbench_mllm.metrics.club import ClubEstimator, ClubShape, ClubTraining, data_fingerprint, describe, train_club
from robustbench_mllm.metrics.embeddings import (
    DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER, ImageEmbedder, TextEmbedder, image_bytes,
)
from robustbench_mllm.metrics.emid import VariantEmbeddings, emid_report, training_pairs
from robustbench_mllm.metrics.jsd import JSDKind
from robustbench_mllm.results import update_results

ESTIMATOR_DIR = ("emid", "estimator")
RunEmbeddings = dict[str, dict[str, VariantEmbeddings]]  # dataset -> variant -> embeddings


@dataclass(frozen=True)
class EmidConfig:
    run_dir: Path
    data: Path | None = None
    estimator: Path | None = None
    train_on: tuple[Path, ...] = ()  # empty: train on run_dir itself
    image_encoder: str = DEFAULT_IMAGE_ENCODER
    text_encoder: str = DEFAULT_TEXT_ENCODER
    image_pooling: str = "patch_mean"
    text_pooling: str = "layer0_mean"
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
    cache = Path(run_dir) / "embeddings"
    common: dict[str, Any] = {"cache_root": cache, "batch_size": config.batch_size, "device": config.device}
    return Embedders(ImageEmbedder(config.image_encoder, config.image_pooling, **common),
                     TextEmbedder(config.text_encoder, config.text_pooling, **common))


def embed_variant(run_dir: Path, data: Path, dataset: str, variant: str, embedders: Embedders) -> VariantEmbeddings:
    """The answered items of one variant, embedded (in the generated file's item order)."""
    from robustbench_mllm.runners.evaluate_store import read_predictions
    from robustbench_mllm.sources.generated import load_items

    answers = read_predictions(predictions_file(run_dir, dataset, variant))
    items = [item for item in load_items(data, dataset, variant) if item.id in answers]
    where = variant_file(data, dataset, variant)
    references = []
    for item in items:
        reference = item.reference_answer or item.label
        if not reference:
            raise DataFormatError(f"{where}: item {item.id!r}: fields 'reference_answer' and 'label' are empty")
        references.append(reference)
    if not items:
        raise DataFormatError(f"{predictions_file(run_dir, dataset, variant)}: no answers match items in {where}")
    text = embedders.text
    return VariantEmbeddings(
        ids=tuple(item.id for item in items),
        image=embedders.image.embed([image_bytes(item.image, f"{where}: item {item.id!r}") for item in items]),
        question=text.embed([item.question.encode("utf-8") for item in items]),
        answer=text.embed([answers[item.id].answer.encode("utf-8") for item in items]),
        reference=text.embed([r.encode("utf-8") for r in references]),
    )


def embed_run(run_dir: Path, data: Path, embedders: Embedders,
              on_variant: Callable[[str], None] | None = None) -> RunEmbeddings:
    from robustbench_mllm.runners.evaluate_report import predicted_variants

    found: RunEmbeddings = {}
    variants = predicted_variants(run_dir)
    if not variants:
        raise FileNotFoundError(f"{Path(run_dir) / 'predictions'}: no predictions (run `robust-mllm evaluate` first)")
    for dataset, variant in sorted(variants, key=lambda dv: (dv[0], dv[1] != "clean", dv[1])):
        found.setdefault(dataset, {})[variant] = embed_variant(run_dir, data, dataset, variant, embedders)
        if on_variant:
            on_variant(f"{dataset}/{variant}")
    return found


def obtain_estimator(config: EmidConfig, training_runs: Sequence[RunEmbeddings]) -> tuple[ClubEstimator, Path]:
    """``--estimator`` as given; otherwise train (or reuse the saved one trained on the same data)."""
    if config.estimator is not None:
        return ClubEstimator.load(config.estimator), Path(config.estimator)
    x, y = training_pairs(emb for run in training_runs for ds in run.values() for emb in ds.values())
    folder = Path(config.run_dir).joinpath(*ESTIMATOR_DIR)
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
    from robustbench_mllm.judges.runner import resolve_data_dir

    embedders = embedders or make_embedders(config, config.run_dir)
    this_run = embed_run(config.run_dir, resolve_data_dir(config.run_dir, config.data), embedders, on_variant)
    training_runs = [this_run]
    if config.estimator is None and config.train_on:
        training_runs = []
        for other in config.train_on:
            other_embedders = make_embedders(config, other)
            training_runs.append(embed_run(other, resolve_data_dir(other, None), other_embedders, on_variant))
    for dataset, variants in this_run.items():
        if "clean" not in variants:
            raise ValueError(f"{Path(config.run_dir) / 'predictions' / dataset}: no clean.jsonl; "
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
        "bound_form": "scale_adjusted" if config.entropy_scale is None else f"entropy_scale={config.entropy_scale}",
        "datasets": datasets,
    }
    update_results(config.run_dir, "emid", payload)
    return payload
