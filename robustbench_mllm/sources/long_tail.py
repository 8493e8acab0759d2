"""Long-tail open-ended sets from the Hugging Face Hub (or a local copy in the same schema).

- LB-Wild (``lmms-lab/llava-bench-in-the-wild``, split ``train``, 60 questions): question_id,
  question, image, caption, gpt_answer, category (conv/detail/complex), image_id.
- LB-Wilder (``lmms-lab/LLaVA-Bench-Wilder``, split ``small``, 128 questions): Question_id,
  Question, Image, Answer (the GPT-4V reference) and, when present, Category / caption.
- WildVision-Bench (``WildVision/wildvision-bench``, config ``vision_bench_0617``, split ``test``,
  500 questions): question_id, instruction, image, and the baseline answer the benchmark judges
  against (``claude-3-sonnet-20240229``).

Column names differ between releases and copies, so each field accepts a short list of documented
alternatives (first present wins); a required field with none of them is an error naming them all.
The judge's context is the caption only (no boxes), as LLaVA's in-the-wild review does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.records import Item, JudgeContext, SourceInfo
from robustbench_mllm.sources.base import register_source
from robustbench_mllm.sources.hub import _image_bytes, _text, open_table
from robustbench_mllm.sources.hub import _image_id as named_image_id


@dataclass(frozen=True)
class Columns:
    """Accepted column names per field, in order of preference."""

    question: tuple[str, ...]
    image: tuple[str, ...]
    reference: tuple[str, ...]
    question_id: tuple[str, ...] = ("question_id",)
    image_id: tuple[str, ...] = ("image_id",)
    category: tuple[str, ...] = ("category",)
    caption: tuple[str, ...] = ("caption",)


@dataclass(frozen=True)
class LongTailSet:
    dataset: str
    hub_id: str
    config: str | None
    split: str
    columns: Columns
    homepage: str
    license: str = "see the data set card"


LB_WILD = LongTailSet(
    "lbwild", "lmms-lab/llava-bench-in-the-wild", None, "train",
    Columns(question=("question",), image=("image",), reference=("gpt_answer",)),
    homepage="https://llava-vl.github.io",
)
LB_WILDER = LongTailSet(
    "lbwilder", "lmms-lab/LLaVA-Bench-Wilder", None, "small",
    Columns(
        question=("Question", "question"), image=("Image", "image"),
        reference=("Answer", "gpt4v_answer", "gpt_answer", "answer"),
        question_id=("Question_id", "question_id", "id"), category=("Category", "category"),
    ),
    homepage="https://huggingface.co/datasets/lmms-lab/LLaVA-Bench-Wilder",
)
WV_BENCH = LongTailSet(
    "wvbench", "WildVision/wildvision-bench", "vision_bench_0617", "test",
    Columns(
        question=("instruction", "question"), image=("image",),
        reference=("claude-3-sonnet-20240229", "claude3_sonnet", "reference_answer", "gpt_answer"),
        question_id=("question_id", "id"), category=("domain", "category"),
    ),
    homepage="https://huggingface.co/datasets/WildVision/wildvision-bench",
)


def _pick(present: list[str], field: str, accepted: tuple[str, ...], where: str, required: bool) -> str | None:
    for name in accepted:
        if name in present:
            return name
    if required:
        raise DataFormatError(
            f"{where}: no column for the {field}: expected one of {list(accepted)}; has {present}"
        )
    return None


@dataclass(frozen=True)
class LongTailSource:
    """One long-tail set read from ``id_or_path`` (a Hub id, or a local copy of one)."""

    spec: LongTailSet
    id_or_path: str | None = None

    def info(self) -> SourceInfo:
        return SourceInfo(dataset=self.spec.dataset, task="open_ended", license=self.spec.license,
                          homepage=self.spec.homepage)

    def load(self) -> Iterator[Item]:
        where_table = self.id_or_path or self.spec.hub_id
        table = open_table(where_table, self.spec.split, self.spec.config, image_columns=())
        present, columns = list(table.column_names), self.spec.columns
        required = {f: _pick(present, f, getattr(columns, f), where_table, True) for f in ("question", "image", "reference")}
        optional = {f: _pick(present, f, getattr(columns, f), where_table, False)
                    for f in ("question_id", "image_id", "category", "caption")}
        import datasets

        table = table.cast_column(required["image"], datasets.Image(decode=False))
        for number, row in enumerate(table):
            yield self._item(number, row, required, optional, f"{where_table}: row {number}")

    def _item(
        self, number: int, row: dict[str, Any], required: dict[str, Any], optional: dict[str, Any], where: str
    ) -> Item:
        data = _image_bytes(row[required["image"]], where)
        qid_value = row.get(optional["question_id"]) if optional["question_id"] else None
        qid = str(qid_value if qid_value is not None else number)
        caption = str(row.get(optional["caption"]) or "") if optional["caption"] else ""
        return Item(
            id=qid, dataset=self.spec.dataset, split="test",
            question=_text(row, required["question"], where).strip(), image=data,
            image_id=named_image_id(row, data, optional["image_id"] or ""), source_id=qid,
            reference_answer=_text(row, required["reference"], where),
            category=str(row.get(optional["category"]) or "") if optional["category"] else "",
            context=JudgeContext(captions=tuple(c for c in caption.split("\n") if c.strip())),
        )


def _register(spec: LongTailSet) -> None:
    def factory(id_or_path: str | None = None) -> LongTailSource:
        return LongTailSource(spec, id_or_path)

    factory.__doc__ = f"{spec.dataset}: {spec.hub_id} (or a local copy in its schema), open-ended."
    register_source(spec.dataset)(factory)


for _spec in (LB_WILD, LB_WILDER, WV_BENCH):
    _register(_spec)
