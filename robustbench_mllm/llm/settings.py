"""Where a chat request goes. Keys are read from the environment at call time, never stored."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from robustbench_mllm.errors import ConfigError

OPENAI_KEY_ENV = "OPENAI_API_KEY"
OPENAI_BASE_URL_ENV = "OPENAI_BASE_URL"  # the SDK's own: requests go there when no `base_url` is given
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
AZURE_KEY_ENV = "AZURE_OPENAI_API_KEY"
AZURE_ENDPOINT_ENV = "AZURE_OPENAI_ENDPOINT"
AZURE_DEPLOYMENT_ENV = "AZURE_OPENAI_DEPLOYMENT"
AZURE_API_VERSION_ENVS = ("OPENAI_API_VERSION", "AZURE_OPENAI_API_VERSION")  # the SDK's, then Azure's
DEFAULT_AZURE_API_VERSION = "2024-10-21"


class EndpointConfigError(ConfigError):
    """A chat endpoint that cannot be used as configured (no key, no Azure endpoint): a user
    error, reported without a traceback."""


@dataclass(frozen=True)
class ChatEndpoint:
    """An OpenAI, Azure OpenAI or other OpenAI-compatible (vLLM, SGLang, Ollama) endpoint.

    ``api_key_env`` names the environment variable holding the key (default OPENAI_API_KEY, or
    AZURE_OPENAI_API_KEY for Azure); the key itself never lives in this object, so describing an
    endpoint in a results file or log cannot leak it. For Azure, ``base_url`` is the resource
    endpoint, ``model`` the deployment name, and ``api_version`` the API version; missing ones
    come from the AZURE_OPENAI_* variables (see :meth:`with_environment`).
    """

    model: str = "gpt-4o"
    base_url: str | None = None
    azure: bool = False
    api_version: str | None = None
    api_key_env: str | None = None
    concurrency: int = 16
    max_retries: int = 5
    timeout_s: float = 60.0

    @property
    def key_variable(self) -> str:
        return self.api_key_env or (AZURE_KEY_ENV if self.azure else OPENAI_KEY_ENV)

    def api_key(self) -> str:
        key = os.environ.get(self.key_variable)
        if key:
            return key
        if self.base_url and not self.azure:
            return "not-needed"  # local OpenAI-compatible servers usually accept any key
        raise EndpointConfigError(
            f"no API key: set the environment variable {self.key_variable} "
            "(or give `base_url` for a local OpenAI-compatible server)"
        )

    def with_environment(self) -> ChatEndpoint:
        """The endpoint the SDK will really use, so results and cache keys name it: for Azure the
        resource endpoint from $AZURE_OPENAI_ENDPOINT and the API version from $OPENAI_API_VERSION
        or $AZURE_OPENAI_API_VERSION where not given; otherwise $OPENAI_BASE_URL where no
        ``base_url`` is given (the SDK reads that variable itself)."""
        if not self.azure:
            return dataclasses.replace(self, base_url=self.base_url or os.environ.get(OPENAI_BASE_URL_ENV) or None)
        base_url = self.base_url or os.environ.get(AZURE_ENDPOINT_ENV)
        if not base_url:
            raise EndpointConfigError(
                f"Azure OpenAI: set {AZURE_ENDPOINT_ENV} (https://<resource>.openai.azure.com) or give `base_url`"
            )
        version = self.api_version or next(
            (os.environ[name] for name in AZURE_API_VERSION_ENVS if os.environ.get(name)), DEFAULT_AZURE_API_VERSION
        )
        return dataclasses.replace(self, base_url=base_url, api_version=version)

    def describe(self) -> dict[str, object]:
        """A secret-free description for results files and caches."""
        return {
            "model": self.model,
            "base_url": self.base_url or ("azure" if self.azure else OPENAI_DEFAULT_BASE_URL),
            "azure": self.azure,
            "api_version": self.api_version,
        }


def chat_model(name: str | None, azure: bool, default: str = "gpt-4o") -> str:
    """The model named on the command line, else (Azure) the deployment in
    $AZURE_OPENAI_DEPLOYMENT, else ``default``."""
    return name or (os.environ.get(AZURE_DEPLOYMENT_ENV) if azure else None) or default
