"""Translation files: JSONL lines ``{"source": ..., "language": ..., "text": ...}``.

The format of ``--translations FILE`` (translations made elsewhere) and of the translations the
sample suite ships (``sources/sample_data/translations.jsonl``). ``language`` is the target
language's English name or ISO 639-1 code, case-insensitive (``greek``, ``Greek``, ``el``).
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from robustbench_mllm.errors import DataFormatError, MissingResourceError
from robustbench_mllm.io_utils import read_jsonl, require_field

# language key -> (English name used in prompts, ISO 639-1 code, a letter range of its script)
LANGUAGES: dict[str, tuple[str, str, str]] = {
    "arabic": ("Arabic", "ar", "\u0600-\u06ff"),
    "greek": ("Greek", "el", "\u0370-\u03ff\u1f00-\u1fff"),
    "hindi": ("Hindi", "hi", "\u0900-\u097f"),
}
_BY_CODE = {code: key for key, (_, code, _) in LANGUAGES.items()}


def language_key(value: str) -> str:
    """``"Greek"``/``"el"``/``"greek"`` -> ``"greek"``; ValueError for an unknown language."""
    key = value.strip().lower()
    key = _BY_CODE.get(key, key)
    if key not in LANGUAGES:
        raise ValueError(f"unknown language {value!r}; known: {', '.join(sorted(LANGUAGES))}")
    return key


def in_target_script(text: str, language: str) -> bool:
    """Whether ``text`` has at least one letter of the target language's script."""
    return re.search(f"[{LANGUAGES[language][2]}]", text) is not None


def sample_translations_file() -> Path:
    return Path(str(resources.files("robustbench_mllm.sources") / "sample_data" / "translations.jsonl"))


def read_translations(path: Path) -> dict[tuple[str, str], str]:
    """``{(source, language key): translation}`` from a JSONL file; errors name file, line, field."""
    path = Path(path)
    if not path.is_file():
        raise MissingResourceError(f"{path}: no such translations file")
    table: dict[tuple[str, str], str] = {}
    for number, record in enumerate(read_jsonl(path), start=1):
        where = f"{path}: record {number}"
        values = {f: require_field(record, f, where) for f in ("source", "language", "text")}
        for field, value in values.items():
            if not isinstance(value, str) or not value.strip():
                raise DataFormatError(f"{where}: field {field!r} must be a non-empty string")
        try:
            language = language_key(values["language"])
        except ValueError as exc:
            raise DataFormatError(f"{where}: field 'language': {exc}") from None
        table[(values["source"], language)] = values["text"]
    return table
