"""The prompt text a LLaVA-family adapter sends, as the protocol's ``chat_template`` says.

- ``llava_v1`` (protocol ``vittle``): LLaVA's ``conv_llava_v1`` (llava/conversation.py at LLaVA commit
  c121f04), the conversation the released Vittle evaluation scripts select (``--conv-mode
  llava_v1``). Its style joins the system message, ``USER: <message>`` and the open ``ASSISTANT:``
  turn with the separator " "; the question goes after the image placeholder on its own line
  (``mm_use_im_start_end`` false): ``{system} USER: <image>\\n{question} ASSISTANT:``.
- ``checkpoint`` (protocol ``canonical``): the checkpoint's own. A transformers folder: its
  processor's chat template (no system message), else the LLaVA-1.5 HF prompt. A LLaVA-codebase
  folder: ``conv_vicuna_v1``, the conversation LLaVA-1.5 was trained with (``--version v1``) and
  LLaVA's own scripts evaluate with; same layout, its own system wording.

A user's system-prompt file replaces the system message of either conversation. Under ``llava_v1``
the prompt is also tokenized as the released code does (``LlavaRuntime.released_token_ids``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.protocols import Protocol

PromptFormatter = Callable[[str], str]

# conv_llava_v1.system and conv_vicuna_v1.system, verbatim (they differ: "human" / "user")
LLAVA_V1_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
VICUNA_V1_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
ROLES = ("USER", "ASSISTANT")
SEPARATOR = " "  # sep; sep2 "</s>" closes a finished assistant turn, never part of a prompt
IMAGE_PLACEHOLDER = "<image>"
LLAVA_HF_PROMPT = "USER: <image>\n{question} ASSISTANT:"


def conversation_prompt(system: str, question: str) -> str:
    """SeparatorStyle.TWO over [(USER, "<image>\\n" + question), (ASSISTANT, None)]."""
    user, assistant = ROLES
    return f"{system}{SEPARATOR}{user}: {IMAGE_PLACEHOLDER}\n{question}{SEPARATOR}{assistant}:"


@dataclass(frozen=True)
class PromptTemplate:
    """A named way to turn a question into the model's prompt text."""

    name: str  # llava_v1 | vicuna_v1 | chat_template | llava_hf
    render: PromptFormatter
    system_file: Path | None = None  # the user's system message replaced the template's
    released_tokens: bool = False  # tokenized by LLaVA's tokenizer_image_token, not the processor

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "prompt_template": self.name,
            "tokenization": "tokenizer_image_token" if self.released_tokens else "processor",
        }
        if self.system_file is not None:
            described["system_prompt"] = f"file:{self.system_file}"
        return described


def conversation_template(
    name: str, system: str, system_file: Path | None, released_tokens: bool = False
) -> PromptTemplate:
    if system_file is not None:
        system = system_file.read_text(encoding="utf-8").strip()
    return PromptTemplate(name, lambda question: conversation_prompt(system, question), system_file, released_tokens)


def hf_chat_template(processor: Any) -> PromptTemplate:
    """The processor's chat template when it has one, else the LLaVA-1.5 HF prompt."""
    if getattr(processor, "chat_template", None):

        def render(question: str) -> str:
            conversation = [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}
            ]
            return processor.apply_chat_template(conversation, add_generation_prompt=True)

        return PromptTemplate("chat_template", render)
    return PromptTemplate("llava_hf", lambda question: LLAVA_HF_PROMPT.format(question=question))


def template_for(
    protocol: Protocol, checkpoint: Callable[[], PromptTemplate], system_file: Path | None
) -> PromptTemplate:
    """The protocol's conversation (``llava_v1``), else the checkpoint's own (``checkpoint()``)."""
    if protocol.chat_template == "llava_v1":
        return conversation_template("llava_v1", LLAVA_V1_SYSTEM, system_file, released_tokens=True)
    return checkpoint()
