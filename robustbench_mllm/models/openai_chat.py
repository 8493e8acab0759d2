"""``openai``: any OpenAI-compatible chat server (OpenAI, Azure, vLLM or SGLang serving llava-hf).

Images travel as base64 PNG data URLs in the user message; the shared client
(``robustbench_mllm.llm.client``) bounds concurrency and retries 429/5xx/timeouts honouring
Retry-After. Items that still fail are reported as a ``PartialGenerationError`` so the runner keeps
the rest and a rerun retries only those.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

from PIL import Image

from robustbench_mllm.llm.client import ChatRequest, run_chat_many
from robustbench_mllm.llm.settings import ChatEndpoint
from robustbench_mllm.llm.usage import UsageMeter
from robustbench_mllm.models.base import GenerationParams, PartialGenerationError, register_model
from robustbench_mllm.models.options import LoadOptions


def image_data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def chat_messages(image: Image.Image, prompt: str) -> list[dict[str, Any]]:
    return [{
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {"url": image_data_url(image)}},
            {"type": "text", "text": prompt},
        ],
    }]


class OpenAIChatAdapter:
    """Answers through a chat-completions endpoint; one request per item, sent concurrently."""

    def __init__(self, endpoint: ChatEndpoint) -> None:
        self.endpoint = endpoint
        self.usage = UsageMeter()

    def generate(self, batch: Sequence[tuple[Image.Image, str]], params: GenerationParams) -> list[str]:
        requests = [
            ChatRequest(messages=chat_messages(image, prompt), temperature=params.temperature,
                        max_tokens=params.max_new_tokens)
            for image, prompt in batch
        ]
        results = run_chat_many(self.endpoint, requests, usage=self.usage)
        if all(r.ok for r in results):
            return [str(r.text).strip() for r in results]
        answers = [str(r.text).strip() if r.ok else None for r in results]
        raise PartialGenerationError(answers, [str(r.error) for r in results if not r.ok])

    def describe(self) -> dict[str, Any]:
        return {"adapter": "openai", **self.endpoint.describe()}


@register_model("openai")
def load_openai(model: str, options: LoadOptions) -> OpenAIChatAdapter:
    """A model served behind an OpenAI-compatible API (--base-url; key from --api-key-env)."""
    endpoint = ChatEndpoint(
        model=model, base_url=options.base_url, api_key_env=options.api_key_env,
        concurrency=options.concurrency, max_retries=options.max_retries, timeout_s=options.timeout_s,
    ).with_environment()  # run.json names the server used ($OPENAI_BASE_URL included)
    endpoint.api_key()  # fail now, not after loading the data, when no key is configured
    return OpenAIChatAdapter(endpoint)
