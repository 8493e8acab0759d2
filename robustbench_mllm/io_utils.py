"""Atomic writes and append-only JSONL with clear errors naming file and line."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def decode_utf8(data: bytes, where: str, first_line: int = 1) -> str:
    """``data`` (whose first line is line ``first_line`` of ``where``) as UTF-8 text; bad bytes
    are an error naming ``where``, the line and the column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + first_line
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataFormatError(
            f"{where}: line {line}: byte 0x{data[exc.start]:02x} at column {column} is not UTF-8 text; "
            "save the file as UTF-8"
        ) from None


def read_text(path: Path) -> str:
    """A user-supplied text file, which must be UTF-8 (``decode_utf8`` names a bad line)."""
    path = Path(path)
    return decode_utf8(path.read_bytes(), str(path))


def read_json(path: Path) -> Any:
    path = Path(path)
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None


def jsonl_line(record: dict[str, Any], *, ensure_ascii: bool = False) -> str:
    """One JSONL line (keys sorted, newline included): the same record always gives the same bytes."""
    return json.dumps(record, ensure_ascii=ensure_ascii, sort_keys=True) + "\n"


def atomic_write_jsonl(path: Path, records: Iterable[dict[str, Any]], *, ensure_ascii: bool = False) -> None:
    """A whole JSONL file, written atomically (``atomic_write_bytes``)."""
    atomic_write_text(path, "".join(jsonl_line(r, ensure_ascii=ensure_ascii) for r in records))


def append_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append records as JSON lines, flushed and fsynced so a kill -9 loses at most a partial line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for record in records:
            handle.write(jsonl_line(record))
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl(path: Path, *, tolerate_torn_tail: bool = False) -> Iterator[dict[str, Any]]:
    """Yield the objects of a JSONL file.

    With ``tolerate_torn_tail`` a final line without a newline that fails to parse (a write cut
    short by a crash) is skipped; any other bad line is an error naming file and line number.
    """
    path = Path(path)
    lines = path.read_bytes().split(b"\n")  # bytes: a torn tail may end inside a UTF-8 character
    complete = lines[-1] == b""  # the file ends with a newline
    if complete:
        lines.pop()
    for number, line in enumerate(lines, start=1):
        torn = tolerate_torn_tail and number == len(lines) and not complete
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            if torn:
                return
            text = decode_utf8(line, str(path), first_line=number)  # raises, naming line and column
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            if torn:
                return
            raise DataFormatError(f"{path}: line {number}: invalid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise DataFormatError(f"{path}: line {number}: expected a JSON object")
        yield obj


def require_field(record: dict[str, Any], field: str, where: str) -> Any:
    """``record[field]`` or a DataFormatError naming ``where`` (file and row) and the field."""
    if field not in record:
        raise DataFormatError(f"{where}: missing field {field!r}")
    return record[field]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
