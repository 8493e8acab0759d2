"""Where a chat request goes. Keys are read from the environment at call time, never stored."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ChatEndpoint:
    """An OpenAI, Azure OpenAI or other OpenAI-compatible (vLLM, SGLang, Ollama) endpoint.

    ``api_key_env`` names the environment variable holding the key; the key itself never lives
    in this object, so describing an endpoint in a results file or log cannot leak it.
    For Azure, ``base_url`` is the resource endpoint, ``model`` the deployment name, and
    ``api_version`` the API version (defaults from AZURE_OPENAI_* variables).
    """

    model: str = "gpt-4o"
    base_url: str | None = None
    azure: bool = False
    api_version: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 16
    max_retries: int = 5
    timeout_s: float = 60.0

    def api_key(self) -> str:
        key = os.environ.get(self.api_key_env)
        if key:
            return key
        if self.base_url and not self.azure:
            return "not-needed"  # local OpenAI-compatible servers usually accept any key
        raise RuntimeError(
            f"no API key: set the environment variable {self.api_key_env} "
            "(or pass --base-url for a local OpenAI-compatible server)"
        )

    def describe(self) -> dict[str, object]:
        """A secret-free description for results files and caches."""
        return {
            "model": self.model,
            "base_url": self.base_url or ("azure" if self.azure else "https://api.openai.com/v1"),
            "azure": self.azure,
            "api_version": self.api_version,
        }
