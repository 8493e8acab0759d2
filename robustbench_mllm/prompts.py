"""The text a model is sent for an item, and its answer budget: the one place that decides them, for ``evaluate``,
``represent`` and the lmms-eval export alike.

Yes/no questions get the protocol's POPE suffix (``vittle``: the released POPE question file's
"\\nAnswer the question using a single word or phrase."; ``canonical``: none). Multiple-choice
questions list their options as ``A. text`` lines (when the item carries them separately) and
end with the protocol's answer-with-the-letter instruction. Open-ended questions go as they are.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.protocols import Protocol
from robustbench_mllm.records import Item, Task

LETTERS = string.ascii_uppercase
# LLaVA's and Vittle's evaluation scripts cap short answers at 128 new tokens (model_vqa_loader's
# default) and open-ended ones at 1024 (model_vqa's); both decode greedily (temperature 0)
DEFAULT_MAX_NEW_TOKENS: dict[Task, int] = {"yes_no": 128, "multiple_choice": 128, "open_ended": 1024}


def option_letters(count: int) -> str:
    if not 0 < count <= len(LETTERS):
        raise DataFormatError(f"between 1 and {len(LETTERS)} options expected, got {count}")
    return LETTERS[:count]


def multiple_choice_prompt(question: str, choices: Sequence[str], suffix: str) -> str:
    """The question, its options (if given separately) and the answer-with-the-letter suffix."""
    lines = [question.rstrip()]
    if choices:
        lines += [f"{letter}. {choice}" for letter, choice in zip(option_letters(len(choices)), choices)]
    lines.append(suffix)
    return "\n".join(lines)


def prompt_for(item: Item, task: Task, protocol: Protocol) -> str:
    if task == "multiple_choice":
        return multiple_choice_prompt(item.question, item.choices, protocol.choice_suffix)
    if task == "yes_no":
        return item.question + protocol.pope_suffix
    return item.question
