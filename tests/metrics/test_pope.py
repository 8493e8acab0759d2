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


def test_report_per_split_and_both_averages() -> None:
    rows = [("random", "yes", "Yes"), ("random", "no", "Yes"), ("popular", "yes", "Yes"), ("popular", "no", "No")]
    report = yes_no_report(rows)
    assert report["random"]["accuracy"] == pytest.approx(0.5)
    assert report["popular"]["accuracy"] == pytest.approx(1.0)
    assert report["per_split"]["accuracy"] == pytest.approx(0.75)
    assert report["per_split"]["n"] == report["pooled"]["n"] == 4


def _answers(split: str, tp: int, fp: int, tn: int, fn: int) -> list[tuple[str, str, str]]:
    return ([(split, "yes", "Yes")] * tp + [(split, "no", "Yes")] * fp + [(split, "no", "No")] * tn
            + [(split, "yes", "No")] * fn)


def test_pooled_average_is_the_released_eval_pope_rule() -> None:
    # three equal-size splits (as POPE's) whose precision, recall and F1 differ
    counts = {"adversarial": (40, 25, 25, 10), "popular": (45, 15, 35, 5), "random": (30, 2, 48, 20)}
    rows = [row for split, c in counts.items() for row in _answers(split, *c)]
    report = yes_no_report(rows)
    # eval_pope.py: TP/FP/TN/FN of each split divided by 3 and summed, then every metric from them
    tp, fp, tn, fn = (sum(c[i] / 3 for c in counts.values()) for i in range(4))
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    pooled = report["pooled"]
    assert pooled["precision"] == pytest.approx(precision)
    assert pooled["recall"] == pytest.approx(recall)
    assert pooled["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert pooled["accuracy"] == pytest.approx((tp + tn) / (tp + tn + fp + fn))
    # equal-size splits: the pooled accuracy is the mean of the split accuracies
    split_accuracy = [(c[0] + c[2]) / sum(c) for c in counts.values()]
    assert pooled["accuracy"] == pytest.approx(sum(split_accuracy) / 3)
    assert (pooled["tp"], pooled["fp"], pooled["tn"], pooled["fn"]) == (115, 42, 108, 35)
    # per_split: the unweighted mean of each split's own metrics, which differs for P/R/F1
    def split_f1(c: tuple[int, int, int, int]) -> float:
        p, r = c[0] / (c[0] + c[1]), c[0] / (c[0] + c[3])
        return 2 * p * r / (p + r)

    assert report["per_split"]["f1"] == pytest.approx(sum(split_f1(c) for c in counts.values()) / 3)
    assert report["per_split"]["precision"] == pytest.approx(sum(c[0] / (c[0] + c[1]) for c in counts.values()) / 3)
    assert abs(report["per_split"]["precision"] - pooled["precision"]) > 1e-3


def test_a_split_named_like_an_average_is_refused() -> None:
    with pytest.raises(ValueError, match="reserved"):
        yes_no_report([("pooled", "yes", "Yes")])


def test_bad_label_is_an_error() -> None:
    with pytest.raises(ValueError, match="yes/no label"):
        confusion([("maybe", "Yes")])
