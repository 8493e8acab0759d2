"""The EMID stage (``robust-mllm emid``): EMI / EMID and the bound terms of one evaluated run folder.

Reads RUN/run.json (the generated data folder, key ``data``; ``EmidConfig.data`` overrides),
RUN/predictions/<dataset>/<variant>.jsonl and the generated items; embeds images, questions,
model answers and reference answers (cached in RUN/embeddings/, so a rerun embeds nothing); gets a
CLUB estimator; writes the results section "emid".

The estimator, first match wins: ``estimator`` (a saved folder, or a ``CLUB_global.pt``-format file);
trained on the ``train_on`` runs (saved in RUN/emid/estimator/, reused while its training data is
unchanged); else the protocol's (recorded with the data, ``protocol`` overrides): ``official`` is
the pinned ``CLUB_global.pt`` of the EMID paper, one estimator for every model and shift;
``per_suite`` is one estimator per generated suite, trained once on the suite's own (image +
question, reference answer) pairs, every variant of its open-ended data sets, stored in
GENERATED/estimator/<key>/ and reused by every run on that suite (it sees no model's answers, so
it favours none).

The bound reported is the input-space bound of Oh et al. (2025) on the CLIP/XLM-R embeddings, not
the representation-space bound of the Vittle paper's Proposition 3.2 (``represent`` computes
those JSD terms). ``mean_emid`` is the mean EMID over each data set's shifted variants: for
LB-COCO with the 27 variants of the paper, its Table 4 number.

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

import numpy as np

from robustbench_mllm.downloads import PinnedFile
from robustbench_mllm.errors import ConfigError, MissingResourceError
from robustbench_mllm.metrics.club import (
    CONFIG_FILE,
    ClubEstimator,
    ClubShape,
    ClubTraining,
    data_fingerprint,
    describe,
    train_club,
)
from robustbench_mllm.metrics.embeddings import (
    DEFAULT_IMAGE_ENCODER,
    DEFAULT_TEXT_ENCODER,
    ImageEmbedder,
    ImagePooling,
    TextEmbedder,
    TextPooling,
    image_bytes,
)
from robustbench_mllm.metrics.emid import emid_report, training_pairs
from robustbench_mllm.metrics.jsd import JSDKind
from robustbench_mllm.metrics.official_club import OFFICIAL_CLUB, load_official, official_estimator
from robustbench_mllm.protocols import Protocol
from robustbench_mllm.records import is_open_ended
from robustbench_mllm.runners.emid_embed import Embedders, RunEmbeddings, embed_run
from robustbench_mllm.seeding import stable_seed
from robustbench_mllm.store.layout import (
    embeddings_dir,
    estimator_dir,
    predictions_dir,
    suite_estimator_dir,
    variant_file,
)
from robustbench_mllm.store.manifest import resolve_protocol
from robustbench_mllm.store.results import update_results
from robustbench_mllm.store.run_info import data_folder
from robustbench_mllm.store.variants import list_variants, load_items

BOUND_LABEL = "input-space bound (Oh et al. 2025) on CLIP/XLM-R embeddings"


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
    protocol: str | None = None  # None: the one recorded with the data
    official: PinnedFile = OFFICIAL_CLUB  # where the official estimator is fetched from (tests: a local server)
    cache_dir: Path | None = None  # downloads; None: the user's cache folder


def make_embedders(config: EmidConfig, run_dir: Path) -> Embedders:
    cache = embeddings_dir(run_dir)
    common: dict[str, Any] = {"cache_root": cache, "batch_size": config.batch_size, "device": config.device}
    return Embedders(ImageEmbedder(config.image_encoder, config.image_pooling, **common),
                     TextEmbedder(config.text_encoder, config.text_pooling, **common))


def _load_given(path: Path, config: EmidConfig) -> ClubEstimator:
    """A saved folder of ours, or a file in the official checkpoint format."""
    return ClubEstimator.load(path) if Path(path).is_dir() else load_official(path, config.official)


def _trained_on_runs(config: EmidConfig, training_runs: Sequence[RunEmbeddings]) -> tuple[ClubEstimator, Path]:
    """Trained on the (model answer, reference) pairs of ``training_runs``, saved with this run."""
    x, y = training_pairs(emb for run in training_runs for ds in run.values() for emb in ds.values())
    folder = estimator_dir(config.run_dir)
    if folder.exists():
        saved = ClubEstimator.load(folder)
        if saved.info.get("data_sha256") == data_fingerprint(x, y) and saved.training == config.training:
            return saved, folder
    estimator = train_club(x, y, ClubShape(x.shape[1], y.shape[1]), config.training)
    estimator.save(folder)
    return estimator, folder


def _suite_estimator(config: EmidConfig, data: Path, embedders: Embedders, datasets: Sequence[str]) -> tuple[ClubEstimator, Path]:
    """The suite's own estimator: trained once on (image + question, reference) of every variant of
    ``datasets`` in ``data``, stored in GENERATED/estimator/<key>/ (key: encoders, data sets,
    training settings), reused by every later run on the suite."""
    identity = {"image": [embedders.image.describe()[k] for k in ("fingerprint", "pooling")],
                "text": [embedders.text.describe()[k] for k in ("fingerprint", "pooling")],
                "datasets": sorted(datasets), "training": repr(config.training)}
    folder = suite_estimator_dir(data) / f"{stable_seed(repr(sorted(identity.items()))):016x}"
    if (folder / CONFIG_FILE).is_file():  # written last: a complete estimator
        return ClubEstimator.load(folder), folder
    xs, ys = [], []
    variants = list_variants(data)
    for dataset in sorted(datasets):
        for variant in variants.get(dataset, []):
            items = [item for item in load_items(data, dataset, variant) if is_open_ended(item)]
            if not items:
                continue
            where = variant_file(data, dataset, variant)
            image = embedders.image.embed([image_bytes(item.image, f"{where}: item {item.id!r}") for item in items])
            question = embedders.text.embed([item.question.encode("utf-8") for item in items])
            xs.append((image.astype(np.float64) + question.astype(np.float64)) / 2.0)
            ys.append(embedders.text.embed([item.reference_answer.encode("utf-8") for item in items]))
    if not xs:
        raise ConfigError(f"{data}: no open-ended items in {', '.join(datasets)} to train the suite's estimator on "
                          "(it learns from reference answers); give `train_on` runs or an `estimator`")
    x, y = np.vstack(xs), np.vstack(ys)
    estimator = train_club(x, y, ClubShape(x.shape[1], y.shape[1]), config.training)
    estimator = ClubEstimator(estimator.shape, estimator.training, estimator.nets,
                              {**estimator.info, "origin": "per_suite", "suite": str(data), "identity": identity})
    estimator.save(folder)
    return estimator, folder


def obtain_estimator(config: EmidConfig, training_runs: Sequence[RunEmbeddings], protocol: Protocol,
                     data: Path, embedders: Embedders, datasets: Sequence[str]) -> tuple[ClubEstimator, str]:
    """The estimator (see the module docstring for the order) and where it came from."""
    if config.estimator is not None:
        return _load_given(config.estimator, config), str(config.estimator)
    if config.train_on:
        estimator, folder = _trained_on_runs(config, training_runs)
        return estimator, str(folder)
    if protocol.emid_estimator == "official":
        return official_estimator(config.official, config.cache_dir), config.official.url
    estimator, folder = _suite_estimator(config, data, embedders, datasets)
    return estimator, str(folder)


def _describe_estimator(estimator: ClubEstimator, source: str, config: EmidConfig) -> dict[str, Any]:
    origin = estimator.info.get("origin", "trained_on_runs")
    record: dict[str, Any] = {"path": source, "origin": origin, **describe(estimator)}
    if origin == "official":
        record.pop("training")  # pretrained by the EMID authors; their settings are unpublished
    if origin == "trained_on_runs" and config.estimator is None:
        record["trained_on"] = [str(p) for p in config.train_on]
    return record


def mean_emid(datasets: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per data set, the mean EMID over its shifted variants (the paper's Table 4 for LB-COCO)."""
    means = {}
    for dataset, rows in datasets.items():
        shifted = [row["emid"] for variant, row in rows.items() if variant != "clean"]
        if shifted:
            means[dataset] = {"mean": float(np.mean(shifted)), "n_variants": len(shifted)}
    return means


def run_emid(config: EmidConfig, embedders: Embedders | None = None,
             on_variant: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Embed, estimate, report; returns (and stores) the "emid" results section."""
    embedders = embedders or make_embedders(config, config.run_dir)
    data = data_folder(config.run_dir, config.data)
    protocol = resolve_protocol(data, config.protocol)
    scoped = embed_run(config.run_dir, data, embedders, config.datasets, on_variant)
    this_run = scoped.embeddings
    training_runs = []
    if config.estimator is None:
        for other in config.train_on:
            if Path(other).resolve() == Path(config.run_dir).resolve():
                training_runs.append(this_run)
                continue
            other_embedders = make_embedders(config, other)
            training_runs.append(embed_run(other, data_folder(other, None), other_embedders,
                                           config.datasets, on_variant).embeddings)
    for dataset, variants in this_run.items():
        if "clean" not in variants:
            raise MissingResourceError(f"{predictions_dir(config.run_dir) / dataset}: no clean.jsonl; "
                             "EMID compares every variant with the clean one")
    estimator, estimator_source = obtain_estimator(config, training_runs, protocol, data, embedders, list(this_run))
    width = next(emb.image.shape[1] for variants in this_run.values() for emb in variants.values())
    if estimator.shape.x_dim != width:
        raise ConfigError(f"{estimator_source}: the estimator takes {estimator.shape.x_dim}-d embeddings, the "
                          "encoders give another width (the official estimator needs the official CLIP ViT-B/32 "
                          "and XLM-R base); give matching `image_encoder`/`text_encoder` or another `estimator`")
    datasets = {
        dataset: emid_report(estimator, variants, kind=config.jsd_kind, permutations=config.permutations,
                             seed=config.seed, entropy_scale=config.entropy_scale)
        for dataset, variants in this_run.items()
    }
    payload = {
        "protocol": {"name": protocol.name, "version": protocol.version},
        "image_encoder": embedders.image.describe(),
        "text_encoder": embedders.text.describe(),
        "estimator": _describe_estimator(estimator, estimator_source, config),
        "jsd": {"kind": config.jsd_kind, "permutations": config.permutations, "seed": config.seed},
        "dataset_scope": "named" if config.datasets else "open_ended",
        # named: yes/no datasets whose labels served as references; default: the ones skipped
        "closed_form_datasets": list(scoped.closed_form),
        "bound_form": "scale_adjusted" if config.entropy_scale is None else f"entropy_scale={config.entropy_scale}",
        "bound_label": BOUND_LABEL,
        "datasets": datasets,
        "mean_emid": mean_emid(datasets),  # over the shifted variants; LB-COCO's 27: the paper's Table 4
    }
    update_results(config.run_dir, "emid", payload)
    return payload
