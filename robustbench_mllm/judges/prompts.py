"""What the judge reads: context, question, reference answer (assistant 1), model answer
(assistant 2) and the rating instruction, laid out as LLaVA-Bench does.

``own_prompt`` is our own wording (protocol ``canonical``); ``load_rules`` reads a ``rule.json``
in LLaVA's format (``{key: {"role", "prompt"}}``), the paper's prompts (``judges/official_rules.py``
fetches the pinned copies). With such rules the text sent is byte for byte what LLaVA's and
Vittle's review scripts send. Every prompt set has an id and a sha256 recorded in the results.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import read_json
from robustbench_mllm.records import Item

SYSTEM = "You are a helpful and precise assistant for checking the quality of the answer."

OWN_INSTRUCTION = (
    "Above are a description of an image, a question about it, and two answers to that question. "
    "Grade both answers using only the description as evidence about the image. Reward answers "
    "that are correct, address the question, stay relevant and give an appropriate amount of "
    "detail; penalise statements the description does not support. Give each assistant an "
    "integer grade from 1 (poor) to 10 (excellent).\n"
    "Write the two grades on the first line, Assistant 1's grade first, separated by a single "
    "space, and nothing else on that line. Then explain your grading in a few sentences. The order "
    "in which the answers are shown must not influence your grades."
)
OWN_PROMPT_ID = "robust-mllm/relative-v1"
CATEGORIES = ("conv", "detail", "complex")
# the in-the-wild sets judged without caption context, and the key of Vittle's rule.json each uses
NO_CONTEXT_RULES = {"lbwilder": "llava_bench_wilder", "wvbench": "wildvision_bench"}
# the in-the-wild sets the paper judges against GPT-4o reference answers (`robust-mllm references`)
GENERATED_REFERENCE_DATASETS = ("lbwild", "wvbench")
JudgeStyle = Literal["coco", "caption", "no_context"]


@dataclass(frozen=True)
class Rule:
    role: str
    prompt: str


@dataclass(frozen=True)
class JudgePrompt:
    """A rule per key (``conv``, ``llava_bench_conv``, ... or ``default``) plus its identity."""

    prompt_id: str
    rules: Mapping[str, Rule]
    system: str = SYSTEM
    sources: tuple[str, ...] = ()  # where the rules came from (pinned URLs or the user's file)

    @property
    def sha256(self) -> str:
        canonical = json.dumps(
            {"system": self.system, "rules": {k: [r.role, r.prompt] for k, r in self.rules.items()}},
            sort_keys=True, ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def describe(self) -> dict[str, Any]:
        return {"id": self.prompt_id, "sha256": self.sha256, "sources": list(self.sources)}

    def rule_for(self, item: Item) -> Rule:
        """The rule LLaVA's review scripts pick for ``item``'s style (``rule_key``), else ``default``."""
        key = rule_key(item)
        for candidate in (key, "default"):
            if candidate in self.rules:
                return self.rules[candidate]
        raise DataFormatError(
            f"prompt {self.prompt_id}: no rule {key!r} for item {item.id!r} of {item.dataset} "
            f"(category {item.category!r}; rules: {', '.join(sorted(self.rules))})"
        )

    def messages(
        self, item: Item, answer: str, *, question: str | None = None, reference: str | None = None
    ) -> list[dict[str, str]]:
        """The released scripts' layout. ``question`` replaces the item's (the clean question for a
        text variant), ``reference`` its reference answer (a generated one); both default to the item's."""
        rule = self.rule_for(item)
        role = rule.role
        content = (
            f"{context_block(item)}"
            f"[Question]\n{item.question if question is None else question}\n\n"
            f"[{role} 1]\n{item.reference_answer if reference is None else reference}\n\n[End of {role} 1]\n\n"
            f"[{role} 2]\n{answer}\n\n[End of {role} 2]\n\n"
            f"[System]\n{rule.prompt}\n\n"
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": content}]


def judge_style(item: Item) -> JudgeStyle:
    """``coco`` (captions and boxes), ``caption`` (LB-Wild: captions only) or ``no_context``
    (LB-Wilder, WV-Bench: the question alone)."""
    if item.dataset in NO_CONTEXT_RULES:
        return "no_context"
    return "coco" if item.context.boxes else "caption"


def rule_key(item: Item) -> str:
    """``<category>`` for COCO (eval_gpt_review_visual.py), ``llava_bench_<category>`` for LB-Wild
    (eval_gpt_review_bench.py), the data set's fixed key for LB-Wilder and WV-Bench."""
    style = judge_style(item)
    if style == "no_context":
        return NO_CONTEXT_RULES[item.dataset]
    return item.category if style == "coco" else f"llava_bench_{item.category}"


def context_block(item: Item) -> str:
    """``[Context]`` with the captions one per line, then (COCO) one ``category: [x1, y1, x2, y2]``
    line per box, the box printed as the Python list the released script prints; nothing for the
    no-context sets (the released scripts put ``str()`` of a PIL image object there, no pixels)."""
    style = judge_style(item)
    if style == "no_context":
        return ""
    captions = "\n".join(item.context.captions)
    if style == "caption":
        return f"[Context]\n{captions}\n\n"
    boxes = "\n".join(f"{box.category}: {[float(v) for v in box.bbox]}" for box in item.context.boxes)
    return f"[Context]\n{captions}\n\n{boxes}\n\n"


def own_prompt() -> JudgePrompt:
    return JudgePrompt(OWN_PROMPT_ID, {"default": Rule("Assistant", OWN_INSTRUCTION)})


def read_rules(path: Path) -> dict[str, Rule]:
    """A ``rule.json`` in LLaVA's format: ``{key: {"role": ..., "prompt": ...}}``."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataFormatError(f"{path}: expected a JSON object of rules")
    rules: dict[str, Rule] = {}
    for key, entry in data.items():
        if not isinstance(entry, dict) or not all(isinstance(entry.get(f), str) for f in ("role", "prompt")):
            raise DataFormatError(f"{path}: rule {key!r}: expected {{\"role\": str, \"prompt\": str}}")
        rules[key] = Rule(entry["role"], entry["prompt"])
    usable = [k for k in rules if k in CATEGORIES or k.startswith("llava_bench_") or k == "default"]
    if not usable:
        raise DataFormatError(f"{path}: no conv/detail/complex or llava_bench_* rule")
    return rules


def rules_prompt(rules: Mapping[str, Rule], sources: tuple[str, ...]) -> JudgePrompt:
    """A prompt from LLaVA-format rules; id ``llava-rules:<sha12>`` (the sha256 of its texts)."""
    sha = JudgePrompt("llava-rules", rules).sha256
    return JudgePrompt(f"llava-rules:{sha[:12]}", dict(rules), sources=sources)


def load_rules(path: Path) -> JudgePrompt:
    """The user's ``rule.json`` as a prompt."""
    return rules_prompt(read_rules(path), (str(path),))
