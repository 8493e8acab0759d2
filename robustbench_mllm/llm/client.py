"""An async OpenAI-compatible chat client with bounded concurrency, a response cache and usage.

How to call it (translation, the openai model adapter, the judge)::

    from robustbench_mllm.llm.cache import ResponseCache
    from robustbench_mllm.llm.client import ChatRequest, run_chat_many
    from robustbench_mllm.llm.settings import ChatEndpoint
    from robustbench_mllm.llm.usage import UsageMeter

    endpoint = ChatEndpoint(model="gpt-4o", concurrency=16)  # key read from $OPENAI_API_KEY
    requests = [ChatRequest(messages=[{"role": "user", "content": q}], key_parts={"v": 1}) for q in qs]
    usage = UsageMeter()
    with ResponseCache(path) as cache:
        results = run_chat_many(endpoint, requests, cache=cache, usage=usage)
    for result in results:  # same order as requests; one failure never raises
        print(result.text if result.ok else result.error)

Images go in as content parts: ``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}``.
Inside asyncio use ``async with ChatClient(endpoint, cache=..., usage=...) as client:
await client.chat_many(requests)``.

Retries: the SDK retries 408/409/429/5xx, timeouts and connection errors (endpoint.max_retries),
honouring Retry-After, with jittered exponential backoff. On top, this client retries malformed
bodies (same budget) and responses the ``validator`` rejects (``validation_retries``). Every final
response is cached, valid or not, so a rerun sends nothing; transport failures are not cached, so a
rerun retries them. ``refresh=True`` bypasses cache reads. Error strings never contain the key.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from robustbench_mllm.llm.cache import CachedResponse, ResponseCache, cache_key
from robustbench_mllm.llm.redact import install_log_redaction, redact
from robustbench_mllm.llm.settings import ChatEndpoint
from robustbench_mllm.llm.usage import UsageMeter

Validator = Callable[[str], bool]
T = TypeVar("T")
_BACKOFF_S = 0.25  # base of the jittered backoff between our own (malformed/invalid) retries


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion. ``key_parts`` adds to the cache key what the messages do not say
    (run index, prompt version), so e.g. three temperature-0 judge runs are three requests."""

    messages: Sequence[Mapping[str, Any]]
    temperature: float = 0.0
    max_tokens: int | None = None
    key_parts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatResult:
    """The response text, or why there is none. ``text`` may be set alongside ``error`` when the
    last response failed validation (kept so callers can log it)."""

    text: str | None
    error: str | None = None
    cached: bool = False
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


class _MalformedResponse(Exception):
    """A 200 response without usable message content."""


def request_key(endpoint: ChatEndpoint, request: ChatRequest) -> str:
    return cache_key({
        "endpoint": endpoint.describe(),
        "messages": list(request.messages),
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "extra": dict(request.key_parts),
    })


def _sdk_client(endpoint: ChatEndpoint, api_key: str) -> Any:
    """The SDK client for an endpoint already filled in by :meth:`ChatEndpoint.with_environment`."""
    import openai

    if endpoint.azure:
        return openai.AsyncAzureOpenAI(
            api_key=api_key, azure_endpoint=endpoint.base_url, api_version=endpoint.api_version,
            max_retries=endpoint.max_retries, timeout=endpoint.timeout_s,
        )
    return openai.AsyncOpenAI(
        api_key=api_key, base_url=endpoint.base_url,
        max_retries=endpoint.max_retries, timeout=endpoint.timeout_s,
    )


class ChatClient:
    """Sends many chat requests with at most ``endpoint.concurrency`` in flight."""

    def __init__(
        self, endpoint: ChatEndpoint, *, cache: ResponseCache | None = None,
        usage: UsageMeter | None = None,
    ) -> None:
        self.endpoint = endpoint.with_environment()  # the cache key names the Azure resource used
        self.cache = cache
        self.usage = usage if usage is not None else UsageMeter()
        self._secret = self.endpoint.api_key()
        install_log_redaction(self._secret)
        self._client = _sdk_client(self.endpoint, self._secret)
        self._semaphore = asyncio.Semaphore(max(1, endpoint.concurrency))

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()

    def _error(self, exc: BaseException) -> str:
        status = getattr(exc, "status_code", None)
        message = getattr(exc, "message", None) or str(exc)
        prefix = f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")
        return redact(f"{prefix}: {message}", (self._secret,))[:500]

    async def _complete(self, request: ChatRequest) -> tuple[str, int, int]:
        """One SDK call (its own retries included) -> (text, prompt_tokens, completion_tokens)."""
        import openai

        kwargs: dict[str, Any] = {
            "model": self.endpoint.model, "messages": list(request.messages),
            "temperature": request.temperature,
        }
        if request.max_tokens is not None:
            kwargs["max_tokens"] = request.max_tokens
        try:
            response = await self._client.chat.completions.create(**kwargs)
        except (openai.APIResponseValidationError, ValueError) as exc:
            raise _MalformedResponse(self._error(exc)) from None
        choices = getattr(response, "choices", None)
        text = choices[0].message.content if choices else None
        if not isinstance(text, str):
            raise _MalformedResponse("response without message content")
        usage = getattr(response, "usage", None)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        self.usage.record(self.endpoint.model, prompt, completion)
        return text, prompt, completion

    async def _backoff(self, attempt: int) -> None:
        await asyncio.sleep(_BACKOFF_S * (2 ** min(attempt, 5)) * random.uniform(0.5, 1.0))

    async def _fetch(
        self, request: ChatRequest, validator: Validator | None, validation_retries: int
    ) -> tuple[ChatResult, CachedResponse | None]:
        import openai

        malformed = invalid = 0
        attempts = 0
        while True:
            attempts += 1
            try:
                text, prompt, completion = await self._complete(request)
            except _MalformedResponse as exc:
                malformed += 1
                if malformed > self.endpoint.max_retries:
                    return ChatResult(None, f"malformed response: {exc}", attempts=attempts), None
                await self._backoff(malformed)
                continue
            except openai.OpenAIError as exc:  # the SDK already retried what was retryable
                return ChatResult(None, self._error(exc), attempts=attempts), None
            response = CachedResponse(self.endpoint.model, text, prompt, completion)
            if validator is None or validator(text):
                return ChatResult(text, attempts=attempts), response
            invalid += 1
            if invalid > validation_retries:
                error = f"response failed validation after {attempts} attempt(s)"
                return ChatResult(text, error, attempts=attempts), response
            await self._backoff(invalid)

    async def chat_one(
        self, request: ChatRequest, *, validator: Validator | None = None,
        validation_retries: int = 0, refresh: bool = False,
    ) -> ChatResult:
        key = request_key(self.endpoint, request)
        if self.cache is not None and not refresh:
            hit = self.cache.get(key)
            if hit is not None:
                self.usage.record_cache_hit(self.endpoint.model)
                if validator is None or validator(hit.text):
                    return ChatResult(hit.text, cached=True)
                return ChatResult(hit.text, "cached response fails validation (use refresh)", cached=True)
        async with self._semaphore:
            try:
                result, response = await self._fetch(request, validator, validation_retries)
            except Exception as exc:  # noqa: BLE001 (one bad item must not sink the batch)
                return ChatResult(None, self._error(exc))
        if response is not None and self.cache is not None:
            self.cache.put(key, response)
        return result

    async def chat_many(
        self, requests: Sequence[ChatRequest], *, validator: Validator | None = None,
        validation_retries: int = 0, refresh: bool = False,
        on_result: Callable[[int, ChatResult], None] | None = None,
    ) -> list[ChatResult]:
        """Results in request order; ``on_result(index, result)`` fires as each one finishes."""

        async def one(index: int, request: ChatRequest) -> ChatResult:
            result = await self.chat_one(
                request, validator=validator, validation_retries=validation_retries, refresh=refresh
            )
            if on_result is not None:
                on_result(index, result)
            return result

        return list(await asyncio.gather(*(one(i, r) for i, r in enumerate(requests))))


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from sync code, also when the caller already runs an event loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(make())
        except BaseException as exc:  # noqa: BLE001 (re-raised in the caller's thread)
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def run_chat_many(
    endpoint: ChatEndpoint, requests: Sequence[ChatRequest], *, cache: ResponseCache | None = None,
    usage: UsageMeter | None = None, validator: Validator | None = None,
    validation_retries: int = 0, refresh: bool = False,
    on_result: Callable[[int, ChatResult], None] | None = None,
) -> list[ChatResult]:
    """Synchronous :meth:`ChatClient.chat_many` for callers outside asyncio."""

    async def main() -> list[ChatResult]:
        async with ChatClient(endpoint, cache=cache, usage=usage) as client:
            return await client.chat_many(
                requests, validator=validator, validation_retries=validation_retries,
                refresh=refresh, on_result=on_result,
            )

    return run_sync(main)
