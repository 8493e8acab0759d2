"""Report numbers from run folders: recomputed per item, cross-checked with the stages' own rules."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from robustbench_mllm.io_utils import read_jsonl
from robustbench_mllm.metrics.pope import yes_no_report
from robustbench_mllm.reports import latex, tables
from robustbench_mllm.reports.run_data import load_run
from robustbench_mllm.reports.summary import ReportTables, build_tables
from robustbench_mllm.store.variants import read_item_table


@pytest.fixture(scope="module")
def report(report_suite: dict[str, Path]) -> ReportTables:
    runs = [load_run(report_suite["plain"]), load_run(report_suite["vittle"])]
    return build_tables(runs, runs[0], resamples=300, seed=0)


def _value(report: ReportTables, model: str, dataset: str, variant: str, metric: str) -> float:
    m = report.metrics
    row = m[(m.model == model) & (m.dataset == dataset) & (m.variant == variant) & (m.metric == metric)]
    assert len(row) == 1, (model, dataset, variant, metric)
    return float(row["value"].iloc[0])


def test_pope_numbers_match_the_evaluate_stage_rule(report: ReportTables, report_suite: dict[str, Path]) -> None:
    run = load_run(report_suite["vittle"])
    for variant in ("clean", "frost_s3"):
        answers = run.answers("tiny_pope", variant)
        rows = read_item_table(report_suite["generated"], "tiny_pope", variant)
        expected = yes_no_report((r["split"], r["label"], answers[r["id"]]) for r in rows)["per_split"]
        assert np.isclose(_value(report, "vittle", "tiny_pope", variant, "pope_accuracy"), 100 * expected["accuracy"])
        assert np.isclose(_value(report, "vittle", "tiny_pope", variant, "pope_f1"), 100 * expected["f1"], atol=1e-9)


def test_relative_preference_matches_the_judge_stage(report: ReportTables, report_suite: dict[str, Path]) -> None:
    path = report_suite["plain"] / "judgments" / "tiny_lbcoco" / "char_typo_s3.jsonl"
    assert any(r.get("failure") for r in read_jsonl(path))  # excluded, never scored as -1
    judge = load_run(report_suite["plain"]).results["judge"]["datasets"]["tiny_lbcoco"]["char_typo_s3"]
    for group, metric in (("overall", "relative_preference"), ("conv", "relative_preference.conv")):
        expected = judge["mean_over_runs"][group]["score"]
        assert np.isclose(_value(report, "plain", "tiny_lbcoco", "char_typo_s3", metric), expected)


def test_confidence_intervals_and_modality_grouping(report: ReportTables) -> None:
    m = report.metrics
    items = m[m["source"] == "items"]
    assert (items["ci_low"] <= items["value"]).all() and (items["value"] <= items["ci_high"]).all()
    assert set(m.loc[m.dataset == "tiny_lbcoco", "modality"]) == {"clean", "visual", "text", "joint"}
    assert set(m.loc[(m.dataset == "tiny_pope") & (m.perturbation == "frost"), "severity"]) == {1, 3, 5}
    summary = report.modality
    row = summary[(summary.model == "vittle") & (summary.dataset == "tiny_pope")
                  & (summary.metric == "pope_accuracy") & (summary.modality == "visual")].iloc[0]
    # frost_s1/s5 are the severity sweep: the modality mean is taken at severity 3
    visual = m[(m.model == "vittle") & (m.dataset == "tiny_pope") & (m.metric == "pope_accuracy")
               & (m.modality == "visual") & (m.severity == 3)]["value"].mean()
    assert row["n_variants"] == 2
    clean = _value(report, "vittle", "tiny_pope", "clean", "pope_accuracy")
    assert np.isclose(row["mean"], visual) and np.isclose(row["ratio"], visual / clean)
    assert np.isclose(row["drop"], clean - visual)


def test_emid_and_representation_numbers_come_from_results_json(report: ReportTables) -> None:
    assert np.isclose(_value(report, "vittle", "tiny_lbcoco", "char_typo_s3", "emid"), 0.02)
    assert np.isclose(_value(report, "plain", "tiny_lbcoco", "frost_s3", "repr_jsd"), 0.05 * 0.75)
    assert report.metrics.loc[report.metrics.metric == "emid", "source"].eq("results.json").all()


def test_paired_tests_against_the_baseline(report: ReportTables) -> None:
    paired = report.paired
    assert set(paired["model"]) == {"vittle"} and set(paired["baseline"]) == {"plain"}
    row = paired[(paired.variant == "frost_s5") & (paired.metric == "pope_accuracy")].iloc[0]
    diff = (_value(report, "vittle", "tiny_pope", "frost_s5", "pope_accuracy")
            - _value(report, "plain", "tiny_pope", "frost_s5", "pope_accuracy"))
    assert np.isclose(row["diff"], diff) and 0 < row["p_value"] <= 1


def test_wide_tables_render_as_markdown_and_latex(report: ReportTables) -> None:
    wide = tables.variant_table(report, "tiny_lbcoco", "relative_preference")
    # clean, then V, T, J as in the paper's tables; one column per model
    assert list(wide.columns) == ["modality", "perturbation", "severity", "plain", "vittle"]
    assert list(wide["perturbation"]) == ["clean", "frost", "char_typo", "frost+translate_greek"]
    assert list(wide["modality"]) == ["clean", "V", "T", "J"] and wide.loc[0, "severity"] == "–"
    assert all(re.fullmatch(r"\d+\.\d \[\d+\.\d, \d+\.\d\]", cell) for cell in wide["vittle"])
    ratio = tables.ratio_table(report, "tiny_pope", "pope_accuracy").set_index("model")
    clean = _value(report, "vittle", "tiny_pope", "clean", "pope_accuracy")
    frost = _value(report, "vittle", "tiny_pope", "frost_s3", "pope_accuracy")
    noise = _value(report, "vittle", "tiny_pope", "gaussian_noise_s3", "pope_accuracy")
    visual = (frost + noise) / 2
    assert ratio.loc["vittle", "V/clean (drop)"] == f"{visual / clean:.3f} ({clean - visual:.1f})"
    markdown = tables.to_markdown(wide)
    assert markdown.count("\n") == 2 + len(wide)
    tex = latex.to_latex(wide, "LB-COCO 100% & more", "tab:x")
    assert r"J & frost+translate\_greek & 3 &" in tex and r"100\% \& more" in tex
    assert tex.count(" \\\\\n") == 1 + len(wide)  # header + one line per row
    # a CI sits under its value (a nested tabular, no extra package) so the table fits the text width
    assert r"\begin{tabular}[t]{@{}r@{}}" in tex and r"\\{\footnotesize [" in tex
    # one rule between the modality groups, booktabs only, never scaled
    assert tex.count(r"\midrule") == 1 + 3 and r"\toprule" in tex and r"\bottomrule" in tex
    assert "resizebox" not in tex and r"\hline" not in tex


def test_a_run_without_generated_data_falls_back_to_results_json(report: ReportTables, report_suite: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    import shutil

    moved = tmp_path / "run"
    shutil.copytree(report_suite["vittle"], moved)
    (moved / "run.json").write_text('{"model": "local/vittle", "data": "/nonexistent"}')
    fallback = build_tables([load_run(moved)], resamples=100)
    for metric in ("pope_accuracy", "pope_f1", "relative_preference"):
        variant = "clean" if metric != "relative_preference" else "frost_s3"
        dataset = "tiny_lbcoco" if metric == "relative_preference" else "tiny_pope"
        assert np.isclose(_value(fallback, "vittle", dataset, variant, metric),
                          _value(report, "vittle", dataset, variant, metric))
    assert fallback.metrics["ci_low"].isna().all()  # no items, no interval


def test_severity_table_averages_only_swept_perturbations(report: ReportTables) -> None:
    table = tables.severity_table(report, "tiny_pope", "pope_accuracy").set_index("model")
    assert list(table.columns) == ["V s1", "V s3", "V s5"]
    # gaussian_noise exists at severity 3 only: it stays out, so s3 is frost_s3 alone
    frost3 = _value(report, "plain", "tiny_pope", "frost_s3", "pope_accuracy")
    assert table.loc["plain", "V s3"] == tables.fmt(frost3)
    assert tables.severity_table(report, "tiny_lbcoco", "relative_preference").empty


def test_a_corrupt_prediction_line_is_reported_with_file_and_line(report_suite: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    import shutil

    from typer.testing import CliRunner

    from robustbench_mllm.cli.app import app

    run = tmp_path / "run"
    shutil.copytree(report_suite["plain"], run)
    path = run / "predictions" / "tiny_pope" / "frost_s1.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2] + ['{"id": "x", "answer": \n'] + lines[2:]))
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(tmp_path / "out"), "--resamples", "100"])
    assert result.exit_code == 2
    assert "frost_s1.jsonl: line 3" in " ".join(result.output.split())


def test_runs_with_the_same_model_name_stay_apart(report_suite: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    from robustbench_mllm.reports.run_data import with_unique_labels

    for name in ("a", "b"):
        shutil.copytree(report_suite["plain"], tmp_path / name)
    runs = with_unique_labels([load_run(tmp_path / "a"), load_run(tmp_path / "b"), load_run(report_suite["vittle"])])
    assert [r.label for r in runs] == ["plain (a)", "plain (b)", "vittle"]


def test_ratio_and_drop_only_for_scores(report: ReportTables) -> None:
    scored = tables.ratio_table(report, "tiny_pope", "pope_accuracy")
    assert "V/clean (drop)" in scored.columns
    for metric in ("emid", "emi", "emid_bound", "repr_jsd"):  # differences from clean or distances: no ratio
        assert tables.ratio_table(report, "tiny_lbcoco", metric).empty, metric
    frame = report.modality
    emid = frame[(frame.metric == "emid") & (frame.modality != "clean")]
    assert len(emid) and emid["ratio"].isna().all() and emid["drop"].isna().all()  # modality.csv alike
    pope = frame[(frame.metric == "pope_accuracy") & (frame.modality != "clean")]
    assert pope["ratio"].notna().all() and pope["drop"].notna().all()


def test_baselines_print_beside_their_metric(report: ReportTables) -> None:
    groups = tables.metric_groups(report)
    assert ("tiny_lbcoco", "emid_bound") in groups and ("tiny_lbcoco", "repr_jsd") in groups
    assert not [m for _, m in groups if m.endswith("_baseline")]
    by_modality = tables.level_table(report, "tiny_lbcoco", "emid_bound")
    assert set(by_modality["V"]) == {"0.200 (0.125)"}
    by_variant = tables.variant_table(report, "tiny_lbcoco", "repr_jsd")
    assert all(re.fullmatch(r"0\.\d{3} \(0\.004\)", cell) for cell in by_variant["vittle"])
    assert not any("(" in cell for cell in tables.variant_table(report, "tiny_lbcoco", "emid")["vittle"])


def test_a_folder_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a run", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"not a run folder \(expected run.json"):
        load_run(tmp_path)


def test_modality_means_have_image_clustered_cis_and_holm_adjusted_tests(report: ReportTables) -> None:
    levels = report.modality
    lb = levels[(levels.dataset == "tiny_lbcoco") & (levels.metric == "relative_preference") & (levels.model == "vittle")]
    assert list(lb["modality"]) == ["clean", "visual", "text", "joint", "all"]
    assert (lb["ci_low"] <= lb["mean"]).all() and (lb["mean"] <= lb["ci_high"]).all()
    m = report.metrics
    shifted = m[(m.model == "vittle") & (m.dataset == "tiny_lbcoco") & (m.metric == "relative_preference")
                & (m.modality != "clean")]
    assert np.isclose(lb.set_index("modality").loc["all", "mean"], shifted["value"].mean())  # mean over variants
    frost = shifted[shifted.variant == "frost_s3"].iloc[0]  # the one visual variant
    assert np.isclose(lb.set_index("modality").loc["visual", "mean"], frost["value"])
    tests = report.modality_paired
    pope = tests[(tests.dataset == "tiny_lbcoco") & (tests.metric == "relative_preference")]
    assert list(pope["variant"]) == ["visual", "text", "joint"]  # one test per modality, not "all"
    # Holm over the three: the smallest p times 3, then monotone
    order = np.argsort(pope["p_value"].to_numpy())
    raw, adjusted = pope["p_value"].to_numpy()[order], pope["p_holm"].to_numpy()[order]
    expected = np.maximum.accumulate(np.minimum(1.0, raw * np.array([3, 2, 1])))
    assert np.allclose(adjusted, expected)


def test_perturbation_table_groups_modalities_and_shows_change_or_difference(report: ReportTables) -> None:
    scores = tables.perturbation_table(report, "tiny_lbcoco", "relative_preference", "plain")
    assert list(scores["modality"]) == ["clean", "V", "T", "J"]
    cell = scores.set_index("perturbation").loc["frost", "vittle"]
    mine = _value(report, "vittle", "tiny_lbcoco", "frost_s3", "relative_preference")
    theirs = _value(report, "plain", "tiny_lbcoco", "frost_s3", "relative_preference")
    assert cell == f"{mine:.1f} ({100 * (mine - theirs) / theirs:+.1f}%)"
    emid = tables.perturbation_table(report, "tiny_lbcoco", "emid", "plain")
    cell = emid.set_index("perturbation").loc["char_typo", "vittle"]
    assert "%" not in cell and cell.endswith("(+0.000)")  # EMID: a difference, never a percentage
    assert tables.perturbation_table(report, "tiny_pope", "pope_accuracy", "plain")["perturbation"].tolist() == [
        "clean", "frost", "gaussian_noise"]  # the severity-3 variants


def test_runs_of_different_protocols_are_refused_unless_allowed(report_suite: dict[str, Path], tmp_path: Path) -> None:
    import json
    import shutil

    from typer.testing import CliRunner

    from robustbench_mllm.cli.app import app

    run = tmp_path / "vittle_protocol"
    shutil.copytree(report_suite["vittle"], run)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "params": {"protocol": "vittle"}}))
    assert load_run(run).protocol == "vittle" and load_run(report_suite["plain"]).protocol == "canonical"
    args = ["report", str(report_suite["plain"]), str(run), "--out", str(tmp_path / "out"), "--resamples", "100"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2
    assert "different protocols" in refused.output and "--allow-mixed-protocols" in refused.output
    allowed = CliRunner().invoke(app, [*args, "--allow-mixed-protocols"])
    assert allowed.exit_code == 0, allowed.output


def test_a_long_table_becomes_a_longtable_with_a_repeated_header() -> None:
    import pandas as pd

    frame = pd.DataFrame({"modality": ["V"] * 20 + ["T"] * 20, "perturbation": [f"p_{i}" for i in range(40)],
                          "model": ["1.0"] * 40})
    tex = latex.to_latex(frame, "Long", "tab:long")
    assert tex.count(r"\begin{longtable}") == 1 and r"\endhead" in tex and r"\begin{table}" not in tex
    assert tex.count(r"\midrule") == 2 + 1  # under each header copy, and between V and T
    assert tex.count("\nV &") == 1  # the group name once, at its first row


def test_pope_is_pooled_under_vittle_and_averaged_over_splits_under_canonical(report_suite: dict[str, Path],
                                                                            tmp_path: Path) -> None:
    import json
    import shutil

    from robustbench_mllm.reports.item_scores import pope_answer

    run = tmp_path / "pooled"
    shutil.copytree(report_suite["plain"], run)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "params": {"protocol": "vittle"}}))
    rows = read_item_table(report_suite["generated"], "tiny_pope", "frost_s3")
    answers = load_run(run).answers("tiny_pope", "frost_s3")

    def f1(chosen: list[dict[str, object]]) -> float:  # F1 of "yes" = 2TP / (2TP + FP + FN)
        said = [(pope_answer(answers[str(r["id"])]), r["label"]) for r in chosen]
        tp = sum(a == t == "yes" for a, t in said)
        wrong = sum(a is not None and a != t for a, t in said)
        return 100 * 2 * tp / (2 * tp + wrong)

    pooled = f1(list(rows))
    per_split = np.mean([f1([r for r in rows if r["split"] == s]) for s in ("random", "popular", "adversarial")])
    assert not np.isclose(pooled, per_split)  # the two averages differ on these answers
    vittle = build_tables([load_run(run)], resamples=100)
    canonical = build_tables([load_run(report_suite["plain"])], resamples=100)
    assert np.isclose(_value(vittle, "plain", "tiny_pope", "frost_s3", "pope_f1"), pooled)
    assert np.isclose(_value(canonical, "plain", "tiny_pope", "frost_s3", "pope_f1"), per_split)
    # without items, results.json's "pooled" number is read under vittle, "mean" (per split) otherwise
    from robustbench_mllm.reports.summary import section_values

    results = {"evaluate": {"datasets": {"d": {"v": {"metrics": {"llava": {
        "pooled": {"accuracy": 0.8}, "mean": {"accuracy": 0.7}}}}}}}}
    assert dict(section_values(results, "d", "v", with_fallback=True, pooled=True))["pope_accuracy"] == 80.0
    assert dict(section_values(results, "d", "v", with_fallback=True, pooled=False))["pope_accuracy"] == 70.0
