"""The wording sent to the translation model: ours by default, or a user's file
(``--translation-prompt FILE``) for the exact wording of a paper.

The Vittle paper (A.3) and its README word the GPT-4o prompt differently, and neither says which
was sent nor in which role, so ours stays the default and a user who wants one of theirs passes
it. A prompt file is UTF-8 text with placeholders in braces, names case-insensitive:
``{target}`` / ``{target_language}`` / ``{language}`` (required: the target language's English
name), ``{source}`` / ``{source_language}`` ("English"), and optionally ``{sentence}`` /
``{question}``. Without ``{sentence}`` the prompt is the system message and the question the user
message (as ours is sent); with it, the prompt with the question filled in is the one user
message. The manifest records the prompt's sha256 (of the file's bytes; of our template's UTF-8
text for ours), and the response cache keys on the messages, so two prompts never share replies.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from robustbench_mllm.errors import ConfigError, MissingResourceError

PROMPT_VERSION = "translate-v1"  # bump when the wording below changes: it is part of the cache key
SYSTEM_PROMPT = (
    "You are a translator of single sentences. Translate the user's message from English into "
    "{language}. Reply with the translation only, with no quotes, notes or explanations. "
    "Translate every word, including the names of objects; write numbers as in the original and "
    "copy any tag in angle brackets, such as <image>, unchanged. A question stays a question."
)
SOURCE_LANGUAGE = "English"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")
_ROLES = {"target": "target", "target_language": "target", "language": "target",
          "source": "source", "source_language": "source", "sentence": "sentence", "question": "sentence"}

Message = dict[str, str]


@dataclass(frozen=True)
class TranslationPrompt:
    template: str
    sha256: str
    origin: str  # "robust-mllm translate-v1" or the file it was read from
    cache_tag: str  # the cache key part: our version tag, or the file's sha256

    @property
    def inline(self) -> bool:
        """Whether the question goes inside the prompt (a single user message)."""
        return any(_ROLES[m.lower()] == "sentence" for m in _PLACEHOLDER.findall(self.template))

    def render(self, language: str, sentence: str = "") -> str:
        values = {"target": language, "source": SOURCE_LANGUAGE, "sentence": sentence}
        return _PLACEHOLDER.sub(lambda m: values[_ROLES[m.group(1).lower()]], self.template)

    def messages(self, language: str, sentence: str) -> list[Message]:
        """The chat messages that ask for ``sentence`` in ``language`` (an English name)."""
        if self.inline:
            return [{"role": "user", "content": self.render(language, sentence)}]
        return [{"role": "system", "content": self.render(language)}, {"role": "user", "content": sentence}]


def _sha256(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


DEFAULT_PROMPT = TranslationPrompt(SYSTEM_PROMPT, _sha256(SYSTEM_PROMPT.encode("utf-8")),
                                   f"robust-mllm {PROMPT_VERSION}", PROMPT_VERSION)


def read_translation_prompt(path: Path) -> TranslationPrompt:
    """A prompt file, checked: readable UTF-8, known placeholders only, the target language named."""
    path = Path(path)
    if not path.is_file():
        raise MissingResourceError(f"`translation_prompt` {path}: no such file")
    data = path.read_bytes()
    try:
        template = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"`translation_prompt` {path}: not UTF-8 text") from None
    names = [m.lower() for m in _PLACEHOLDER.findall(template)]
    unknown = sorted({n for n in names if n not in _ROLES})
    if unknown:
        raise ConfigError(f"`translation_prompt` {path}: unknown placeholder(s) {unknown}; known: "
                          + ", ".join("{" + n + "}" for n in _ROLES))
    if not any(_ROLES[n] == "target" for n in names):
        raise ConfigError(f"`translation_prompt` {path}: the prompt must name the target language with "
                          "{target}, {target_language} or {language}")
    digest = _sha256(data)
    return TranslationPrompt(template, digest, str(path), f"sha256:{digest}")
