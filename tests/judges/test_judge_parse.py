"""The score parser accepts every format judges actually print and rejects the rest."""

from __future__ import annotations

import pytest

from robustbench_mllm.judges.parse import parse_scores


@pytest.mark.parametrize(
    "text",
    [
        "8 7",
        "8,7",
        "8, 7",
        "**8 7**",
        "8/10 7/10",
        "Assistant 1: 8\nAssistant 2: 7",
        "**Assistant 1:** 8/10\n**Assistant 2:** 7/10\nBoth are fine.",
        "Here is my evaluation of the two answers.\n8 7\nAssistant 1 is more detailed.",
        "Scores: 8 and 7",
        "8 7\nAssistant 2 missed 3 objects, assistant 1 listed 5.",
    ],
)
def test_accepted_formats(text: str) -> None:
    assert parse_scores(text) == (8.0, 7.0)


def test_decimal_scores() -> None:
    assert parse_scores("9.5 6") == (9.5, 6.0)


@pytest.mark.parametrize(
    "text",
    ["", "I cannot judge this.", "87", "8", "11 7", "Assistant 1 gave 3 examples and 2 errors.", "-1 -1"],
)
def test_rejected(text: str) -> None:
    assert parse_scores(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9 3\nAssistant 1: 3 of the 4 objects are named. Assistant 2: 1 object is named.", (9.0, 3.0)),
        ("8 7\nAssistant 1: 10 details, Assistant 2: 2 details", (8.0, 7.0)),
        ("**6, 4**\nAssistant 1 - 9 objects; Assistant 2 - 1 object", (6.0, 4.0)),
    ],
)
def test_a_pair_on_the_first_line_wins_over_labels_in_the_explanation(text: str, expected: tuple[float, float]) -> None:
    # LLaVA's parser reads only the first line; numbers in the explanation are not scores
    assert parse_scores(text) == expected
