"""The conversation templates of LLaVA's two training stages, rendered to text + supervised spans.

- ``plain`` (Stage 1, captions): ``<image>{caption}\\n``; the human turn is dropped, the caption
  and its newline are supervised.
- ``vicuna_v1`` (Stage 2, the ``v1`` version of the released scripts)::

      {system} USER: <image>\\n{q1} ASSISTANT: {a1}</s>USER: {q2} ASSISTANT: {a2}</s>

  ``<image>`` moves to the front of its message (``<image>\\n`` + the rest, stripped), as LLaVA's
  ``preprocess_multimodal`` does; other messages go in unchanged. Supervised: each answer (with
  the space before it) and its ``</s>``; the system message, the questions and the role names are
  not (LLaVA's ``preprocess_v1`` masking).

The tokenizer later keeps the label of every token that starts inside a supervised span.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.models.conversation import IMAGE_PLACEHOLDER, VICUNA_V1_SYSTEM

TemplateName = Literal["plain", "vicuna_v1"]
TEMPLATES: tuple[str, ...] = ("plain", "vicuna_v1")
Span = tuple[int, int]


@dataclass(frozen=True)
class Conversation:
    sample_id: str
    image: str | None
    turns: tuple[tuple[str, str], ...]  # (human, gpt) pairs
    row: int  # 0-based index in the JSON file, for error messages

    def where(self, path: object) -> str:
        return f"{path}: row {self.row} (id {self.sample_id})"


def _image_first(message: str) -> str:
    if IMAGE_PLACEHOLDER not in message:
        return message
    return f"{IMAGE_PLACEHOLDER}\n{message.replace(IMAGE_PLACEHOLDER, '').strip()}".strip()


def render_vicuna_v1(conversation: Conversation, eos: str) -> tuple[str, list[Span]]:
    text, spans = VICUNA_V1_SYSTEM + " ", []
    for question, answer in conversation.turns:
        text += f"USER: {_image_first(question)} ASSISTANT:"
        start = len(text)
        text += f" {answer}{eos}"
        spans.append((start, len(text)))
    return text, spans


def render_plain(conversation: Conversation, eos: str) -> tuple[str, list[Span]]:
    caption = conversation.turns[0][1]
    return f"{IMAGE_PLACEHOLDER}{caption}\n", [(len(IMAGE_PLACEHOLDER), len(IMAGE_PLACEHOLDER) + len(caption) + 1)]


def template_problem(conversation: Conversation, template: TemplateName) -> str | None:
    """Why ``conversation`` cannot be rendered with ``template`` (None: it can)."""
    if template == "plain" and (conversation.image is None or len(conversation.turns) != 1):
        return "the `template` plain (Stage 1) needs an 'image' and exactly one human/gpt pair (LLaVA-Pretrain format)"
    return None


_RENDERERS: dict[str, Callable[[Conversation, str], tuple[str, list[Span]]]] = {
    "plain": render_plain,
    "vicuna_v1": render_vicuna_v1,
}


def render(conversation: Conversation, template: TemplateName, eos: str) -> tuple[str, list[Span]]:
    """The training text of ``conversation`` and the character spans that are supervised."""
    if template not in _RENDERERS:
        raise ConfigError(f"unknown `template` {template!r}: expected one of {TEMPLATES}")
    return _RENDERERS[template](conversation, eos)
