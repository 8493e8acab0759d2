"""What the judge reads: context, question, reference answer (assistant 1), model answer
(assistant 2) and the rating instruction, laid out as LLaVA-Bench does.

The default instruction is our own wording. ``load_rules`` reads LLaVA's official ``rule.json``
(keys conv/detail/complex and llava_bench_*, each ``{"role", "prompt"}``) from a file the user
supplies, for exact reproduction. Every prompt set has an id and a sha256 recorded in the results.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import read_json
from robustbench_mllm.records import Item, JudgeContext

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

    @property
    def sha256(self) -> str:
        canonical = json.dumps(
            {"system": self.system, "rules": {k: [r.role, r.prompt] for k, r in self.rules.items()}},
            sort_keys=True, ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def describe(self) -> dict[str, Any]:
        return {"id": self.prompt_id, "sha256": self.sha256}

    def rule_for(self, item: Item) -> Rule:
        """COCO-style items (with boxes) use the ``<category>`` rule, in-the-wild items the
        ``llava_bench_<category>`` rule, as LLaVA's two review scripts do; else ``default``."""
        coco_style = bool(item.context.boxes)
        keys = (item.category, f"llava_bench_{item.category}")
        for key in (keys if coco_style else keys[::-1]) + ("default",):
            if key in self.rules:
                return self.rules[key]
        raise DataFormatError(
            f"prompt {self.prompt_id}: no rule for category {item.category!r} of item {item.id!r} "
            f"(rules: {', '.join(sorted(self.rules))})"
        )

    def messages(self, item: Item, answer: str) -> list[dict[str, str]]:
        rule = self.rule_for(item)
        role = rule.role
        content = (
            f"[Context]\n{format_context(item.context)}\n\n"
            f"[Question]\n{item.question}\n\n"
            f"[{role} 1]\n{item.reference_answer}\n\n[End of {role} 1]\n\n"
            f"[{role} 2]\n{answer}\n\n[End of {role} 2]\n\n"
            f"[System]\n{rule.prompt}\n\n"
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": content}]


def format_context(context: JudgeContext) -> str:
    """Captions, one per line, then (COCO-style) one ``category: [x1, y1, x2, y2]`` line per box."""
    captions = "\n".join(context.captions)
    if not context.boxes:
        return captions
    boxes = "\n".join(
        f"{box.category}: [{', '.join(f'{v:.3f}' for v in box.bbox)}]" for box in context.boxes
    )
    return f"{captions}\n\n{boxes}"


def own_prompt() -> JudgePrompt:
    return JudgePrompt(OWN_PROMPT_ID, {"default": Rule("Assistant", OWN_INSTRUCTION)})


def load_rules(path: Path) -> JudgePrompt:
    """LLaVA's ``rule.json``: ``{key: {"role": ..., "prompt": ...}}``; id ``llava-rules:<sha12>``."""
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
    prompt = JudgePrompt("llava-rules", rules)
    return JudgePrompt(f"llava-rules:{prompt.sha256[:12]}", rules)
