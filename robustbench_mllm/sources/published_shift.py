"""Import the authors' published shifted LB-COCO sets as generated variants our runner evaluates.

``changdae/llavabench-shift-synthetic-v1`` and ``changdae/llavabench-shift-natural-v1`` hold one
split per shift, each with the columns image, question, reference_answer. Split names encode the
shift: ``llava_bench_coco`` (clean), ``llava_bench_coco_frost_3`` (visual, severity 3),
``llava_bench_coco_sr_4`` / ``_KeyboardAug_1`` (the authors' text shifts at their levels),
``llava_bench_coco_frost_3_sr_4`` (joint), ``llava_bench_coco_Greek`` (translation) and
``llava_bench_in_the_wild_{easy,normal,hard}_<Language>`` (natural visual shift, LLaVA-Bench
in-the-wild by difficulty). Each split becomes ``OUT/<dataset>/<variant>/data.parquet`` in the
``dataset_schema`` columns, with a ``manifest.json`` in the generate command's format.

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
from typing import Any, Optional

import typer

from robustbench_mllm.cli_conventions import exit_with_error
from robustbench_mllm.io_utils import DataFormatError, atomic_write_json, read_json, sha256_file
from robustbench_mllm.layout import MANIFEST, variant_file
from robustbench_mllm.records import Item, VariantSpec
from robustbench_mllm.sources.base import SourceInfo, register_source
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


def _items(table: Any, shift: ShiftSplit, image_ids: Sequence[str] | None) -> Iterator[Item]:
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


def _image_ext(data: bytes) -> str:
    return "png" if data.startswith(b"\x89PNG") else "jpg"


def _write_split(out: Path, table: Any, shift: ShiftSplit, image_ids: Sequence[str] | None) -> None:
    """Rows into a hidden temp folder, renamed into place when complete (a crash leaves no
    half-written variant; ``list_variants`` skips hidden folders)."""
    from robustbench_mllm.dataset_schema import item_to_row
    from robustbench_mllm.runners.generate_writer import write_variant_folder

    rows = []
    for item in _items(table, shift, image_ids):
        assert isinstance(item.image, bytes)
        row = item_to_row(item, VariantSpec(), item.image, _image_ext(item.image))
        row.update(variant=shift.variant, perturbation=shift.perturbation,
                   modality=shift.modality, severity=shift.severity)
        rows.append(row)
    write_variant_folder(out, shift.dataset, shift.variant, rows)


def _manifest(out: Path, source: str, shifts: Sequence[ShiftSplit]) -> dict[str, Any]:
    """The generate command's manifest layout; entries of an earlier import into ``out`` stay."""
    import pyarrow.parquet as pq

    from robustbench_mllm import __version__
    from robustbench_mllm.runners.generate_manifest import MANIFEST_VERSION

    path = out / MANIFEST
    manifest: dict[str, Any] = read_json(path) if path.is_file() else {
        "manifest_version": MANIFEST_VERSION, "tool": "robust-mllm", "tool_version": __version__,
        "complete": True, "parameters": {"imported": []}, "datasets": {},
    }
    manifest["parameters"].setdefault("imported", [])
    if source not in manifest["parameters"]["imported"]:
        manifest["parameters"]["imported"] = sorted([*manifest["parameters"]["imported"], source])
    for shift in shifts:
        entry = manifest["datasets"].setdefault(shift.dataset, {
            "task": "open_ended", "license": "see the data set card", "citation": "",
            "homepage": f"https://huggingface.co/datasets/{PUBLISHED[shift.dataset.rsplit('_', 1)[1]]}",
            "items": 0, "variants": {},
        })
        file = variant_file(out, shift.dataset, shift.variant)
        rows = pq.ParquetFile(str(file)).metadata.num_rows
        entry["variants"][shift.variant] = {
            "file": file.relative_to(out).as_posix(), "rows": rows, "sha256": sha256_file(file),
            "modality": shift.modality, "perturbation": shift.perturbation,
            "severity": shift.severity, "source_split": shift.split,
        }
        if shift.variant == "clean":
            entry["items"] = rows
    return manifest


def import_shifted(source: str, out: Path, splits: Sequence[str] = ()) -> list[ShiftSplit]:
    """Write every (or each named) split of ``source`` under ``out``; variants already there are
    kept. Returns where each split went."""
    import datasets

    out = Path(out)
    loaded = load_published(source)
    shift_splits = [n for n in sorted(loaded.keys()) if _SPLIT.fullmatch(n)]  # others: not shifts
    names = list(splits) or shift_splits
    unknown = [n for n in names if n not in loaded]
    if unknown:
        raise DataFormatError(f"{source}: no split(s) {unknown}; has {sorted(loaded.keys())}")
    kind = shift_kind(shift_splits)
    shifts = [parse_split(name, kind) for name in names]
    base_ids: dict[str, list[str]] = {}  # group -> image id per row, from the group's base split
    for base in (parse_split(n, kind) for n in shift_splits):
        if base.base and base.group in {s.group for s in shifts}:
            table = loaded[base.split].cast_column("image", datasets.Image(decode=False))
            where = f"split {base.split}"
            base_ids[base.group] = [
                content_image_id(_image_bytes(row["image"], where)) for row in table
            ]
    for shift in shifts:
        if not variant_file(out, shift.dataset, shift.variant).is_file():
            _write_split(out, loaded[shift.split], shift, base_ids.get(shift.group))
    atomic_write_json(out / MANIFEST, _manifest(out, source, shifts))
    return shifts


@dataclass(frozen=True)
class PublishedShift:
    """One split of a published shifted set as a source of items (e.g. its clean split)."""

    source: str = "synthetic"
    split: str = "llava_bench_coco"

    def _shift(self) -> ShiftSplit:
        return parse_split(self.split, shift_kind([self.split]))

    def info(self) -> SourceInfo:
        kind = shift_kind([self.split])
        return SourceInfo(dataset=self._shift().dataset, task="open_ended",
                          license="see the data set card",
                          homepage=f"https://huggingface.co/datasets/{PUBLISHED[kind]}")

    def load(self) -> Iterator[Item]:
        yield from _items(load_published(self.source)[self.split], self._shift(), None)


register_source("published_shift")(PublishedShift)


def import_shifted_cli(
    source: str = typer.Argument(..., help="synthetic | natural | a Hub id | a local copy (save_to_disk folder)."),
    out: Path = typer.Option(..., "--out", help="Folder to write, in the generate command's layout."),
    splits: Optional[str] = typer.Option(None, help="Comma list of split names (default: every split)."),
) -> None:
    """Import the authors' published shifted LB-COCO sets as variants `evaluate` can run on."""
    from rich.console import Console
    from rich.table import Table

    names = [s.strip() for s in splits.split(",") if s.strip()] if splits else []
    try:
        shifts = import_shifted(source, out, names)
    except (ValueError, OSError) as exc:  # DataFormatError, missing files or splits
        exit_with_error(exc)
    table = Table(title=f"Imported {source} into {out}")
    for column in ("split", "dataset", "variant", "modality", "severity"):
        table.add_column(column)
    for shift in shifts:
        table.add_row(shift.split, shift.dataset, shift.variant, shift.modality, str(shift.severity))
    Console().print(table)
