"""Import the authors' published shifted LB-COCO sets as generated variants our runner evaluates.

``changdae/llavabench-shift-synthetic-v1`` and ``changdae/llavabench-shift-natural-v1`` hold one
split per shift, each with the columns image, question, reference_answer. Split names encode the
shift: ``llava_bench_coco`` (clean), ``llava_bench_coco_frost_3`` (visual, severity 3),
``llava_bench_coco_sr_4`` / ``_KeyboardAug_1`` (the authors' text shifts at their levels),
``llava_bench_coco_frost_3_sr_4`` (joint), ``llava_bench_coco_Greek`` (translation) and
``llava_bench_in_the_wild_{easy,normal,hard}_<Language>`` (natural visual shift, LLaVA-Bench
in-the-wild by difficulty). ``runners.import_shifted`` writes each split as
``OUT/<dataset>/<variant>/data.parquet`` in the generated-variant columns, with a
``manifest.json`` in the generate command's format.

Variant names follow ours where they can (``frost_s3``, ``frost+sr4_s3``, ``translate_greek``,
``wild_hard``); the rows carry modality, perturbation and severity explicitly (severity: the
visual one, else the authors' text level, 0 when clean). Items of the COCO splits pair across
variants by row (id ``q000``...; image ids from the clean split's images), in-the-wild items by
difficulty and row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.records import Item, SourceInfo, VariantSpec
from robustbench_mllm.sources.base import register_source
from robustbench_mllm.sources.hub import _image_bytes, _text, content_image_id

PUBLISHED = {
    "synthetic": "changdae/llavabench-shift-synthetic-v1",
    "natural": "changdae/llavabench-shift-natural-v1",
}
_SPLIT = re.compile(
    r"llava_bench_(?:coco|in_the_wild_(?P<wild>easy|normal|hard))"
    r"(?:_(?P<visual>(?!sr_)[a-z][a-z_]*?)_(?P<vsev>[1-5]))?"  # "sr_4" is a text shift
    r"(?:_(?P<text>sr|KeyboardAug)_(?P<level>\d+))?"
    r"(?:_(?P<language>[A-Z][a-z]+))?"
)
_TEXT_NAMES = {"sr": "sr", "KeyboardAug": "keyboard"}


@dataclass(frozen=True)
class ShiftSplit:
    """Where one published split lands: ``OUT/<dataset>/<variant>``."""

    split: str
    dataset: str
    variant: str
    modality: str
    perturbation: str
    severity: int
    group: str  # items pair up by row within a group: "coco", "wild_easy", ...
    base: bool  # the group's unshifted-text split, whose images name the group's image ids


def parse_split(split: str, kind: str) -> ShiftSplit:
    match = _SPLIT.fullmatch(split)
    if not match:
        raise DataFormatError(f"split {split!r}: not a llava_bench_coco/llava_bench_in_the_wild shift split")
    group = f"wild_{match['wild']}" if match["wild"] else "coco"
    visual = match["visual"] or (group if group != "coco" else None)
    text = None
    if match["text"]:
        text = f"{_TEXT_NAMES[match['text']]}{match['level']}"
    elif match["language"] and match["language"] != "English":
        text = f"translate_{match['language'].lower()}"
    spec = VariantSpec(visual=visual, text=text)
    suffix = f"_s{match['vsev']}" if match["vsev"] else ""
    severity = int(match["vsev"] or match["level"] or 0)
    return ShiftSplit(
        split=split, dataset=f"lbcoco_shift_{kind}",
        variant=spec.perturbation + suffix if spec.modality != "clean" else "clean",
        modality=spec.modality, perturbation=spec.perturbation, severity=severity, group=group,
        base=text is None and not match["vsev"],
    )


def is_shift_split(name: str) -> bool:
    return _SPLIT.fullmatch(name) is not None


def dataset_homepage(dataset: str) -> str:
    """The Hub page of the published set a ``lbcoco_shift_<kind>`` data set comes from."""
    return f"https://huggingface.co/datasets/{PUBLISHED[dataset.rsplit('_', 1)[1]]}"


def split_image_ids(table: Any, split: str) -> list[str]:
    """The content-derived image id of every row of a split (its base split names a group's ids)."""
    import datasets

    table = table.cast_column("image", datasets.Image(decode=False))
    return [content_image_id(_image_bytes(row["image"], f"split {split}")) for row in table]


def shift_kind(splits: Sequence[str]) -> str:
    """``natural`` when any split is a translation or in-the-wild split, else ``synthetic``."""
    matches = [_SPLIT.fullmatch(s) for s in splits]
    return "natural" if any(m and (m["wild"] or m["language"]) for m in matches) else "synthetic"


def load_published(source: str) -> Any:
    """The ``DatasetDict`` of a published set: Hub id, ``synthetic``/``natural``, or a local copy
    (a ``save_to_disk`` folder, or a folder ``load_dataset`` reads)."""
    import datasets

    path = Path(source)
    if (path / "dataset_dict.json").is_file():
        loaded = datasets.load_from_disk(str(path))
    else:
        loaded = datasets.load_dataset(PUBLISHED.get(source, source))
    if not isinstance(loaded, datasets.DatasetDict):
        raise DataFormatError(f"{source}: expected a data set with one split per shift")
    return loaded


def split_items(table: Any, shift: ShiftSplit, image_ids: Sequence[str] | None) -> Iterator[Item]:
    import datasets

    missing = {"image", "question", "reference_answer"} - set(table.column_names)
    if missing:
        raise DataFormatError(f"split {shift.split}: missing column(s) {sorted(missing)}")
    table = table.cast_column("image", datasets.Image(decode=False))
    if image_ids is not None and len(image_ids) != len(table):
        raise DataFormatError(
            f"split {shift.split}: {len(table)} rows but the clean split has {len(image_ids)}"
        )
    prefix = "q" if shift.group == "coco" else f"{shift.group}_"
    for number, row in enumerate(table):
        where = f"split {shift.split}: row {number}"
        data = _image_bytes(row["image"], where)
        item_id = f"{prefix}{number:03d}"
        yield Item(
            id=item_id, dataset=shift.dataset, split=shift.group, question=_text(row, "question", where),
            image=data, source_id=f"{shift.split}/{number}",
            image_id=image_ids[number] if image_ids else content_image_id(data),
            reference_answer=_text(row, "reference_answer", where),
        )


@dataclass(frozen=True)
class PublishedShift:
    """One split of a published shifted set as a source of items (e.g. its clean split)."""

    source: str = "synthetic"
    split: str = "llava_bench_coco"

    def _shift(self) -> ShiftSplit:
        return parse_split(self.split, shift_kind([self.split]))

    def info(self) -> SourceInfo:
        dataset = self._shift().dataset
        return SourceInfo(dataset=dataset, task="open_ended", license="see the data set card",
                          homepage=dataset_homepage(dataset))

    def load(self) -> Iterator[Item]:
        yield from split_items(load_published(self.source)[self.split], self._shift(), None)


register_source("published_shift")(PublishedShift)
