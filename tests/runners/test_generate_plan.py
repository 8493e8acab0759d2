"""Which variants ``generate`` makes for each kind of data set."""

from __future__ import annotations

import pytest

from robustbench_mllm.runners.generate.plan import JOINT_TEXT, JOINT_VISUAL, parse_severities, select_variants


def test_defaults_follow_the_paper() -> None:
    open_ended = [s.name for s in select_variants(None, "open_ended", (3,), seed=0)]
    assert len(open_ended) == 28 and open_ended[0] == "clean" and len(set(open_ended)) == 28
    assert "frost+translate_greek_s3" in open_ended and "char_typo_s3" in open_ended
    joints = [s for s in select_variants(None, "open_ended", (3,), 0) if s.modality == "joint"]
    assert {(s.visual, s.text) for s in joints} == {(v, t) for v in JOINT_VISUAL for t in JOINT_TEXT}
    yes_no = select_variants(None, "yes_no", (1, 3, 5), seed=7)
    assert len(yes_no) == 1 + 9 * 3 and {s.modality for s in yes_no} == {"clean", "visual"}
    assert all(s.seed == 7 for s in yes_no)
    assert len(select_variants("all", "yes_no", (3,), 0)) == 28


def test_named_selection_and_errors() -> None:
    names = [s.name for s in select_variants("clean,frost,word_swap,frost,frost+char_typo", "yes_no", (2,), 0)]
    assert names == ["clean", "frost_s2", "word_swap_s2", "frost+char_typo_s2"]
    with pytest.raises(KeyError, match="Did you mean 'frost'"):
        select_variants("frots", "yes_no", (3,), 0)
    with pytest.raises(ValueError, match="joint name"):
        select_variants("char_typo+frost", "yes_no", (3,), 0)
    assert parse_severities("5,1,3,3") == (1, 3, 5)
    for bad in ("0", "6", "x", ""):
        with pytest.raises(ValueError, match="`severity`"):
            parse_severities(bad)
