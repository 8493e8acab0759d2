import pytest

from robustbench_mllm.records import Box, JudgeContext, VariantSpec


@pytest.mark.parametrize(
    ("spec", "name", "modality"),
    [
        (VariantSpec(), "clean", "clean"),
        (VariantSpec(visual="frost", severity=3), "frost_s3", "visual"),
        (VariantSpec(text="char_typo", severity=5), "char_typo_s5", "text"),
        (VariantSpec(visual="frost", text="translate_greek", severity=1), "frost+translate_greek_s1", "joint"),
    ],
)
def test_variant_names_round_trip(spec, name, modality):
    assert spec.name == name
    assert spec.modality == modality
    assert VariantSpec.parse(name, text_names=frozenset({"char_typo"})) == spec


def test_bad_variant_name_is_rejected():
    with pytest.raises(ValueError, match="bad variant name"):
        VariantSpec.parse("frost_s9", text_names=frozenset())


def test_judge_context_json_round_trip():
    ctx = JudgeContext(captions=("a cat",), boxes=(Box("cat", (0.1, 0.2, 0.5, 0.9)),))
    assert JudgeContext.from_json(ctx.to_json()) == ctx
    assert JudgeContext.from_json("") == JudgeContext()
