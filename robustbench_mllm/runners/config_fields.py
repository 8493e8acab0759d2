"""Typed settings from a YAML mapping: each value checked and converted to the type of the record
field it sets (int, float, bool, str, Path, Literal, tuple, Optional), every mistake kept as one
line naming the file and the key, with a close match for a misspelt key."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal


def plain(value: Any) -> Any:
    """``value`` with paths as strings and tuples as lists, for YAML output."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value


class Mistakes:
    """Every mistake in the file, one line each."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []

    def add(self, where: str, what: str) -> None:
        self.lines.append(f"{self.path}: `{where}`: {what}")

    def unknown(self, section: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
        for key in section:
            if str(key) not in allowed:
                close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(sorted(allowed))}"
                self.add(f"{prefix}{key}", f"unknown key; {hint}")


def coerce(value: Any, hint: Any) -> Any:
    """``value`` as the record field type ``hint``; TypeError with what was expected."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return coerce(value, option)
            except TypeError as exc:
                errors.append(str(exc))
        raise TypeError(" or ".join(errors))
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise TypeError(f"one of {', '.join(map(str, typing.get_args(hint)))}")
        return value
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list):
            raise TypeError("a list")
        return tuple(coerce(v.strip() if isinstance(v, str) else v, typing.get_args(hint)[0]) for v in items)
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("a number")
        return float(value)
    if hint is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise TypeError("a string")
        return str(value)
    if hint is Path:
        if not isinstance(value, str):
            raise TypeError("a path")
        return Path(value)
    return value  # nested records (ClubTraining) are not settable from the file


def record_fields(record: type, section: Mapping[str, Any], keys: set[str], prefix: str, mistakes: Mistakes,
            base: Path) -> dict[str, Any]:
    """The entries of ``section`` that are fields of ``record``, coerced to the field types;
    relative paths are relative to the config file's folder."""
    hints = typing.get_type_hints(record)
    out: dict[str, Any] = {}
    for key in sorted(keys & {str(k) for k in section}):
        try:
            value = coerce(section[key], hints[key])
        except TypeError as exc:
            mistakes.add(f"{prefix}{key}", f"expected {exc}, got {section[key]!r}")
            continue
        out[key] = base / value if isinstance(value, Path) and not value.is_absolute() else value
    return out
