"""Embeddings for the EMID stage: each answered item's image, question, model answer and
reference answer, embedded with the run's encoders (cached in RUN/embeddings/, so a rerun embeds
nothing), for the open-ended data sets of a run or exactly the named ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from robustbench_mllm.errors import ConfigError, DataFormatError, MissingResourceError
from robustbench_mllm.metrics.embeddings import ImageEmbedder, TextEmbedder, image_bytes
from robustbench_mllm.metrics.emid import VariantEmbeddings
from robustbench_mllm.records import Item, is_open_ended
from robustbench_mllm.store.layout import predictions_dir, predictions_file, variant_file
from robustbench_mllm.store.predictions import predicted_datasets, read_answers
from robustbench_mllm.store.variants import load_items

RunEmbeddings = dict[str, dict[str, VariantEmbeddings]]  # dataset -> variant -> embeddings


@dataclass(frozen=True)
class ScopedEmbeddings:
    embeddings: RunEmbeddings
    closed_form: tuple[str, ...]  # yes/no datasets: skipped by default, label-referenced when named


@dataclass
class Embedders:
    image: ImageEmbedder
    text: TextEmbedder

    @property
    def forward_calls(self) -> int:
        return self.image.forward_calls + self.text.forward_calls


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
