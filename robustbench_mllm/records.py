"""The records that flow between stages. Each has a stable dict form for files on disk."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from robustbench_mllm.errors import DataFormatError

Modality = Literal["clean", "visual", "text", "joint"]
MODALITIES: tuple[Modality, ...] = ("clean", "visual", "text", "joint")
Task = Literal["yes_no", "multiple_choice", "open_ended"]


@dataclass(frozen=True)
class SourceInfo:
    """Data-set level metadata that travels into manifests and dataset cards."""

    dataset: str
    task: Task
    license: str = "unknown"
    citation: str = ""
    homepage: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Box:
    """An object instance for the judge context; bbox is normalised (x1, y1, x2, y2) in [0, 1]."""

    category: str
    bbox: tuple[float, float, float, float]


@dataclass(frozen=True)
class JudgeContext:
    """What the judge sees besides the question: captions and, for COCO-style items, boxes."""

    captions: tuple[str, ...] = ()
    boxes: tuple[Box, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {"captions": list(self.captions), "boxes": [asdict(b) for b in self.boxes]},
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str | None) -> JudgeContext:
        if not text:
            return cls()
        data = json.loads(text)
        boxes = tuple(Box(b["category"], tuple(b["bbox"])) for b in data.get("boxes", []))
        return cls(captions=tuple(data.get("captions", [])), boxes=boxes)


@dataclass(frozen=True)
class Item:
    """One question about one image, as a source yields it.

    ``id`` is unique within the data set and identical across its variants, so clean and perturbed
    answers pair up by id. ``image_id`` names the source image: items sharing it share one
    corrupted image, and bootstrap resampling groups by it. ``image`` is a path or encoded bytes.
    """

    id: str
    dataset: str
    split: str
    question: str
    image: Path | bytes | None
    image_id: str
    source_id: str = ""
    reference_answer: str = ""
    category: str = ""
    label: str = ""  # "yes"/"no" for POPE-style items, the option letter for multiple choice
    choices: tuple[str, ...] = ()
    context: JudgeContext = field(default_factory=JudgeContext)
    question_origin: str = ""  # file, row and field the question was read from, for messages about bad data


def is_open_ended(item: Item) -> bool:
    """Judged (and used for EMID) only when there is a reference answer and no closed-form label."""
    return bool(item.reference_answer) and not item.label


@dataclass(frozen=True)
class VariantSpec:
    """One shifted copy of a data set: a visual and/or a textual perturbation at a severity.

    ``name`` is the folder name: ``clean``, ``frost_s3``, ``char_typo_s3``,
    ``frost+translate_greek_s3`` (the visual part always comes first).
    """

    visual: str | None = None
    text: str | None = None
    severity: int = 3
    seed: int = 0

    @property
    def modality(self) -> Modality:
        if self.visual and self.text:
            return "joint"
        if self.visual:
            return "visual"
        if self.text:
            return "text"
        return "clean"

    @property
    def perturbation(self) -> str:
        """``frost``, ``frost+translate_greek`` or ``clean``."""
        return "+".join(p for p in (self.visual, self.text) if p) or "clean"

    @property
    def name(self) -> str:
        if self.modality == "clean":
            return "clean"
        return f"{self.perturbation}_s{self.severity}"

    @classmethod
    def parse(cls, name: str, *, seed: int = 0, text_names: frozenset[str] | None = None) -> VariantSpec:
        """Inverse of ``name``. A single part is textual when it is in ``text_names``
        (default: the registered textual perturbations)."""
        if name == "clean":
            return cls(seed=seed)
        match = re.fullmatch(r"(.+)_s([1-5])", name)
        if not match:
            raise DataFormatError(f"bad variant name {name!r}: expected 'clean' or '<perturbation>_s<1-5>'")
        parts, severity = match.group(1).split("+"), int(match.group(2))
        if len(parts) == 2:
            return cls(visual=parts[0], text=parts[1], severity=severity, seed=seed)
        if len(parts) != 1:
            raise DataFormatError(f"bad variant name {name!r}: at most one visual and one text part")
        if text_names is None:
            from robustbench_mllm.registry import load_registry

            text_names = frozenset(
                n for n, p in load_registry("perturbations").items() if p.modality == "text"
            )
        if parts[0] in text_names:
            return cls(text=parts[0], severity=severity, seed=seed)
        return cls(visual=parts[0], severity=severity, seed=seed)


@dataclass(frozen=True)
class Prediction:
    """A model's answer to one item of one variant (one line of predictions/<ds>/<variant>.jsonl)."""

    id: str
    dataset: str
    variant: str
    answer: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Judgment:
    """One judge run on one item: both scores, or the reason it failed (then excluded, counted)."""

    id: str
    dataset: str
    variant: str
    run: int
    judge_model: str
    prompt_id: str
    reference_score: float | None = None
    model_score: float | None = None
    failure: str | None = None
    category: str = ""  # the item's category (conv/detail/complex), for per-category scores
    judge_question: str = ""  # "perturbed" or "clean": which question the judge was shown

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
