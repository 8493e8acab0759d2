"""POPE scoring: both answer rules and the metrics on hand-computed confusion tables."""

from __future__ import annotations

import pytest

from robustbench_mllm.metrics.pope import confusion, parse_llava, parse_strict, yes_no_report


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Yes, there is a dog.", "yes"),
        ("No, there is no dog.", "no"),
        ("There is not a dog in the image.", "no"),
        ("NO", "yes"),  # LLaVA's rule is case-sensitive: kept for comparability
        ("Yes. No other animals.", "yes"),  # only the text before the first '.' counts
        ("no", "no"),
        ("I cannot tell", "yes"),
    ],
)
def test_llava_rule(answer: str, expected: str) -> None:
    assert parse_llava(answer) == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("Yes.", "yes"), ("NO", "no"), ("**No**, there is none", "no"), ("yes,", "yes"),
     ("There is a dog", None), ("", None), ("Maybe", None)],
)
def test_strict_rule(answer: str, expected: str | None) -> None:
    assert parse_strict(answer) == expected


def test_metrics_on_a_hand_computed_table() -> None:
    # labels/answers chosen so that TP=3, FP=1, TN=2, FN=2
    pairs = [("yes", "Yes")] * 3 + [("no", "Yes")] + [("no", "No")] * 2 + [("yes", "No")] * 2
    metrics = confusion(pairs).metrics()
    assert (metrics["tp"], metrics["fp"], metrics["tn"], metrics["fn"]) == (3, 1, 2, 2)
    assert metrics["accuracy"] == pytest.approx(5 / 8)
    assert metrics["precision"] == pytest.approx(3 / 4)
    assert metrics["recall"] == pytest.approx(3 / 5)
    assert metrics["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert metrics["yes_ratio"] == pytest.approx(4 / 8)


def test_strict_rule_counts_unparseable_as_wrong() -> None:
    pairs = [("yes", "Yes"), ("no", "NO"), ("yes", "Perhaps"), ("no", "It is unclear")]
    strict = confusion(pairs, "strict").metrics()
    assert strict["unparseable"] == 2
    assert (strict["tp"], strict["tn"]) == (1, 1)
    assert strict["accuracy"] == pytest.approx(2 / 4)
    llava = confusion(pairs, "llava").metrics()
    assert llava["unparseable"] == 0
    assert (llava["tp"], llava["fp"]) == (2, 2)  # "NO" and the two non-answers count as yes


def test_report_per_split_and_mean() -> None:
    rows = [("random", "yes", "Yes"), ("random", "no", "Yes"), ("popular", "yes", "Yes"), ("popular", "no", "No")]
    report = yes_no_report(rows)
    assert report["random"]["accuracy"] == pytest.approx(0.5)
    assert report["popular"]["accuracy"] == pytest.approx(1.0)
    assert report["mean"]["accuracy"] == pytest.approx(0.75)
    assert report["mean"]["n"] == 4


def test_bad_label_is_an_error() -> None:
    with pytest.raises(ValueError, match="yes/no label"):
        confusion([("maybe", "Yes")])
