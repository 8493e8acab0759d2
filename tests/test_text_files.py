"""User-supplied text files must be UTF-8: a bad byte is one error naming the file, line and column."""

from pathlib import Path

import pytest

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import read_json, read_jsonl, read_text


def test_read_text_names_line_and_column_of_a_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "prompt.txt"
    path.write_bytes("first line\nsecond \u00e9 ok\nthird \xff".encode("utf-8").replace(b"\xc3\xbf", b"\xff"))
    with pytest.raises(DataFormatError, match=rf"^{path}: line 3: byte 0xff at column 7 is not UTF-8 text"):
        read_text(path)


def test_read_json_and_jsonl_name_the_row_of_a_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"text": "caf\xe9"}\n')
    with pytest.raises(DataFormatError, match=rf"^{path}: line 3: byte 0xe9 at column 14"):
        list(read_jsonl(path))
    with pytest.raises(DataFormatError, match=rf"^{path}: line 3: byte 0xe9"):
        read_json(path)


def test_a_torn_tail_cut_inside_a_utf8_character_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    path.write_bytes('{"id": "1"}\n{"answer": "caf\u00e9'.encode("utf-8")[:-1])
    assert list(read_jsonl(path, tolerate_torn_tail=True)) == [{"id": "1"}]
    with pytest.raises(DataFormatError, match="line 2"):
        list(read_jsonl(path))


def test_a_raw_line_separator_inside_a_json_string_stays_in_its_row(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "a\u2028b"}\n', encoding="utf-8")
    assert list(read_jsonl(path)) == [{"text": "a\u2028b"}]
