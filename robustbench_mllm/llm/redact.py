"""Keep API keys out of error strings and log records (the SDK's errors may carry request details)."""

from __future__ import annotations

import logging
import re

_HEADER_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s'\",}]+"),
    re.compile(r"(?i)((?:api[-_]key|authorization)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
)
MASK = "***"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with every secret value and any bearer/api-key header value masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    for pattern in _HEADER_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with :func:`redact` before any handler sees it."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


# logger filters do not apply to records of child loggers, so name each module logger
HTTP_LOGGERS = (
    "openai", "openai._base_client", "openai._response", "openai._legacy_response",
    "httpx", "httpx2", "httpcore", "httpcore2",
)


def install_log_redaction(secret: str, loggers: tuple[str, ...] = HTTP_LOGGERS) -> None:
    """Attach a redacting filter for ``secret`` to the HTTP client loggers (once per secret)."""
    for name in loggers:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) and secret in f.secrets for f in logger.filters):
            logger.addFilter(RedactingFilter((secret,)))
