"""Every subcommand against a battery of bad arguments and inputs: exit code 2 for a mistake in
the input or the settings, 1 for a failure while working, one or two lines on stderr saying what
is wrong, no traceback, and nothing already written changed.

Commands are discovered from the app, so a new command fails ``test_every_command_has_cases``
until it gets cases in ``CASES``; the generic cases (``-h``, an unknown flag, no arguments) run
for every command anyway. Everything runs in-process through typer's CliRunner.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from tests.fixtures.judge_run import VARIANTS, build_judge_run
from tests.fixtures.tiny_generated import write_tiny_generated
from tests.sources.test_local_sources import _images, _qa90

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Case:
    """``args`` are formatted with the sandbox's paths (``{gen}``, ``{run}``, ``{out}``, ...);
    ``says`` must appear in stderr (case-insensitive)."""

    args: tuple[str, ...]
    code: int
    says: str
    env: tuple[tuple[str, str], ...] = ()


def case(line: str, code: int, says: str, **env: str) -> Case:
    return Case(tuple(line.split()), code, says, tuple(env.items()))


CLOSED = "--base-url {closed} --max-retries 0"
CASES: dict[str, list[Case]] = {
    "list": [case("list nonsense", 2, "'nonsense' is not one of")],
    "generate": [
        case("generate --suite nope --out {out}", 2, "unknown suite 'nope'"),
        case("generate --num-proc 0 --out {out}", 2, "--num-proc"),
        case("generate --limit -3 --out {out}", 2, "--limit"),
        case("generate --quality 101 --out {out}", 2, "--quality"),
        case("generate --seed x --out {out}", 2, "--seed"),
        case("generate --severity 9 --out {out}", 2, "severit"),
        case("generate --perturbations forst --out {out}", 2, "did you mean 'frost'"),
        case("generate --suite lbcoco --source {missing} --images {missing} --out {out}", 2, "{missing}"),
        case("generate --suite lbcoco --source {qa_utf8} --images {images} --out {out}", 2, "line 2: byte 0xff"),
        case("generate --suite sample --limit 1 --out {gen}", 2, "{gen}"),  # another generation lives there
        case("generate --suite lbcoco --source {qa} --images {images} --perturbations translate_greek "
             "--translator-base-url {closed} --translation-cache {out}.sqlite --out {out}", 1, "translat"),
    ],
    "gallery": [
        case("gallery {missing} --item x", 2, "{missing}"),
        case("gallery {gen} --item nope", 2, "nope"),
    ],
    "import-shifted": [
        case("import-shifted {missing} --out {out}", 2, "{missing}"),
        case("import-shifted {empty} --out {out}", 2, "{empty}"),
    ],
    "evaluate": [
        case("evaluate --model gpt-4o --adapter openai --data {gen} --out {out}", 2, "OPENAI_API_KEY"),
        case("evaluate --model {missing} --data {gen} --out {out}", 2, "{missing}"),
        case("evaluate --model served --data {missing} --out {out} " + CLOSED, 2, "{missing}"),
        case("evaluate --model served --data {gen} --batch-size 0 --out {out}", 2, "--batch-size"),
        case("evaluate --model served --data {gen} --datasets nope --out {out} " + CLOSED, 2, "nope"),
        case("evaluate --model served --data {gen} --datasets tiny_open --out {out} " + CLOSED, 1,
             "rerun the same command"),
        case("evaluate --model served --data {truncated} --datasets tiny_open --out {out} " + CLOSED, 2,
             "data.parquet"),
        case("evaluate --model served --data {gen} --out {run} " + CLOSED, 2, "use another --out folder"),
    ],
    "merge": [
        case("merge {missing} --out {out}", 2, "{missing}"),
        case("merge {run} {run} --out {run}", 2, "{run}"),
    ],
    "judge": [
        case("judge {run}", 2, "no API key"),
        case("judge {missing} --base-url {closed}", 2, "{missing}"),
        case("judge {run} --runs 0", 2, "--runs"),
        case("judge {run} --rules {bad_json} --base-url {closed}", 2, "invalid JSON"),
        case("judge {run} --prices {bad_json} --base-url {closed}", 2, "invalid JSON"),
        case("judge {run} --runs 1 --timeout 1 --max-retries 0 --base-url {closed} --prompt robust-mllm", 1, "{closed}"),
        case("judge {run} --rules {missing} --base-url {closed}", 2, "{missing}"),
        case("judge {run} --prompt nope --base-url {closed}", 2, "nope"),
        case("judge {run} --runs abc", 2, "--runs"),
        case("judge {torn} --base-url {closed}", 2, "line 2: invalid JSON"),
        case("judge {no_data} --base-url {closed}", 2, "run.json"),
    ],
    "run": [
        case("run {missing}", 2, "{missing}"),
        case("run {bad_json}", 2, "bad.json"),
        case("run {empty}", 2, "{empty}"),
    ],
    "references": [
        case("references {missing} --base-url {closed}", 2, "{missing}"),
        case("references {gen} --concurrency 0 --base-url {closed}", 2, "--concurrency"),
        case("references {gen} --base-url {closed}", 2, "lbwild"),
    ],
    "import-lmms-eval": [
        case("import-lmms-eval {missing} --data {gen} --out {out}", 2, "{missing}"),
        case("import-lmms-eval {bad_json} --data {gen} --out {out}", 2, "manifest.json"),
        case("import-lmms-eval {bad_json} --data {missing} --out {out}", 2, "{missing}"),
    ],
    "emid": [
        case("emid {missing}", 2, "{missing}"),
        case("emid {run} --jsd-kind nope", 2, "--jsd-kind"),
        case("emid {run} --permutations 0", 2, "--permutations"),
        case("emid {run} --image-encoder {missing} --text-encoder {missing} --device cpu", 2, "{missing}"),
    ],
    "represent": [
        case("represent --model {missing} --data {gen} --out {out}", 2, "{missing}"),
        case("represent --model {empty} --data {missing} --out {out}", 2, "{missing}"),
        case("represent --model {empty} --data {gen} --layer -1 --out {out}", 2, "--layer"),
    ],
    "report": [
        case("report {missing} --out {out}", 2, "{missing}"),
        case("report {gen} --out {out}", 2, "{gen}"),
        case("report {run} --resamples 5 --out {out}", 2, "--resamples"),
        case("report {torn} --out {out}", 2, "line 2: invalid JSON"),
    ],
    "publish": [
        case("publish {missing} --repo-id owner/name --dry-run {out}", 2, "{missing}"),
        case("publish {empty} --repo-id owner/name --dry-run {out}", 2, "{empty}"),
    ],
    "export-lmms-eval": [
        case("export-lmms-eval {missing} --repo-id owner/name --out {out}", 2, "{missing}"),
        case("export-lmms-eval {empty} --repo-id owner/name --out {out}", 2, "{empty}"),
    ],
    "train": [
        case("train --base {missing} --data {bad_json} --out {out}", 2, "{missing}"),
        case("train --base {empty} --data {bad_json} --batch-size 0 --out {out}", 2, "--batch-size"),
        case("train --base {empty} --data {bad_json} --objective nope --out {out}", 2, "nope"),
    ],
}


def _closed_port_url() -> str:
    with socket.socket() as probe:  # bound, then closed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    root = tmp_path_factory.mktemp("battery")
    gen = write_tiny_generated(root / "gen", pope_items=2, other_items=1)
    run = build_judge_run(root / "judge", n_items=3, variants=VARIANTS[:1])
    truncated = root / "truncated"
    shutil.copytree(gen, truncated)
    parquet = truncated / "tiny_open" / "clean" / "data.parquet"
    parquet.write_bytes(parquet.read_bytes()[: parquet.stat().st_size // 2])
    qa = _qa90(root / "qa_utf8", prefixed_names=False)
    questions = qa / "qa90_questions.jsonl"
    questions.write_bytes(questions.read_bytes().replace(b'"q1?"', b'"q1\xff?"'))
    torn = root / "torn_run"  # a prediction line broken in the middle of the file
    shutil.copytree(run, torn)
    predictions = torn / "predictions" / "sample_lbcoco" / "clean.jsonl"
    lines = predictions.read_bytes().splitlines(keepends=True)
    predictions.write_bytes(lines[0] + b'{"id": \n' + b"".join(lines[1:]))
    no_data = root / "no_data_run"  # run.json without its `data` key
    shutil.copytree(run, no_data)
    (no_data / "run.json").write_text('{"model": "tiny"}')
    (root / "bad.json").write_bytes(b'{"a": ')
    (root / "empty").mkdir()
    return {"root": root, "gen": gen, "run": run, "truncated": truncated, "torn": torn, "no_data": no_data,
            "qa": _qa90(root / "qa", prefixed_names=False),
            "qa_utf8": qa, "images": _images(root / "images", prefixed=True), "bad_json": root / "bad.json",
            "empty": root / "empty", "missing": root / "does-not-exist", "closed": _closed_port_url()}


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith("out-")
            and "out-" not in p.relative_to(root).parts[0]}


def _invoke(args: list[str], env: dict[str, str | None]) -> tuple[int, str, str, BaseException | None]:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "100", "OPENAI_API_KEY": None, "OPENAI_BASE_URL": None,
                                                "ROBUST_MLLM_DEBUG": None, **env})
    return result.exit_code, result.stdout, result.stderr, result.exception


def _assert_reported(code: int, expected: int, stdout: str, stderr: str, exception: BaseException | None) -> None:
    assert code == expected, f"exit {code}, expected {expected}\nstdout: {stdout}\nstderr: {stderr}"
    assert exception is None or isinstance(exception, SystemExit), f"uncaught {exception!r}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    reported = lines[next((i for i, line in enumerate(lines) if line.startswith("error: ")), len(lines)):]
    # what a command logged while it worked may come before; the report itself is 1-2 lines
    assert 1 <= len(reported) <= 2, f"expected 'error: ...' and at most one more line on stderr, got:\n{stderr}"
    assert "Traceback" not in stdout + stderr


def test_every_command_has_cases() -> None:
    missing = [name for name in COMMANDS if name not in CASES]
    assert not missing, (f"no error-battery cases for {missing}: add bad arguments and inputs for them to CASES in "
                         "tests/cli/test_error_battery.py")


BATTERY = [(name, index, c) for name in COMMANDS for index, c in enumerate(CASES.get(name, []))]


@pytest.mark.parametrize(("command", "index", "bad"), BATTERY, ids=[f"{n}-{i}" for n, i, _ in BATTERY])
def test_a_bad_argument_or_input_ends_as_one_line_and_changes_nothing(
    command: str, index: int, bad: Case, sandbox: dict[str, Path | str]
) -> None:
    root = Path(sandbox["root"])
    places = {key: str(value) for key, value in sandbox.items()}
    places["out"] = str(root / f"out-{command}-{index}")
    before = _snapshot(root)
    code, stdout, stderr, exception = _invoke([a.format(**places) for a in bad.args], dict(bad.env))
    _assert_reported(code, bad.code, stdout, stderr, exception)
    assert bad.says.format(**places).lower() in stderr.lower(), stderr
    after = _snapshot(root)
    changed = sorted(name for name, digest in before.items() if after.get(name) != digest)
    assert not changed, f"a failing command changed or removed files already written: {changed}"


@pytest.mark.parametrize("command", COMMANDS)
def test_generic_cases_for_every_command(command: str) -> None:
    code, stdout, _, _ = _invoke([command, "-h"], {})
    assert code == 0 and "Usage" in stdout and "--debug" in stdout
    code, stdout, stderr, exception = _invoke([command, "--nonsense-flag"], {})
    _assert_reported(code, 2, stdout, stderr, exception)
    assert "--nonsense-flag" in stderr and f"robust-mllm {command} -h" in stderr
    required = [p for p in typer.main.get_command(app).commands[command].params if p.required]  # type: ignore[attr-defined]
    if required:
        code, stdout, stderr, exception = _invoke([command], {})
        _assert_reported(code, 2, stdout, stderr, exception)
        assert "missing" in stderr.lower()
