"""The evaluate stage (``robust-mllm evaluate``): answer every item of the generated variants with
one model, resumably.

Per variant the items still missing from ``RUN/predictions/<dataset>/<variant>.jsonl`` are
answered in batches and appended (fsynced) after each batch, so a rerun, or a run after kill -9,
only does what is left; a finished run loads no model at all. ``RUN/run.json`` pins the model,
adapter, data (manifest hash) and parameters; a rerun with different ones is refused instead of
mixing answers. ``results.json`` gets the judge-free metrics in its ``evaluate`` section.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from robustbench_mllm.errors import ConfigError, DataFormatError, RemoteError
from robustbench_mllm.imaging import ImageDecodeError, load_rgb
from robustbench_mllm.models.base import GenerationParams, ModelAdapter, PartialGenerationError
from robustbench_mllm.models.options import LoadOptions
from robustbench_mllm.prompts import DEFAULT_MAX_NEW_TOKENS, prompt_for
from robustbench_mllm.protocols import Protocol, get_protocol
from robustbench_mllm.records import Item, Prediction, Task
from robustbench_mllm.runners.evaluate.report import score_run
from robustbench_mllm.runners.evaluate.scoring import task_of
from robustbench_mllm.runners.evaluate.shard import Shard, select_items
from robustbench_mllm.store.layout import RUN_INFO, predictions_file
from robustbench_mllm.store.locking import folder_lock
from robustbench_mllm.store.manifest import manifest_sha256, resolve_protocol
from robustbench_mllm.store.predictions import append_predictions, read_predictions
from robustbench_mllm.store.run_info import PROTOCOL_KEY, read_run_info, run_info_path, write_run_info
from robustbench_mllm.store.variants import list_variants, load_items, read_labelled_items


@dataclass(frozen=True)
class EvaluateConfig:
    model: str
    data: Path
    out: Path
    adapter: str | None = None
    variants: tuple[str, ...] = ()  # empty: all present
    datasets: tuple[str, ...] = ()
    batch_size: int = 8
    max_new_tokens: int | None = None  # None: per task (DEFAULT_MAX_NEW_TOKENS)
    temperature: float = 0.0
    limit: int | None = None  # first N items of each variant
    shard: Shard = field(default_factory=Shard)
    options: LoadOptions = field(default_factory=LoadOptions)
    protocol: str | None = None  # None: the one recorded with the data (store.manifest.resolve_protocol)

    def identity(self) -> dict[str, Any]:
        """What must not change between the invocations that fill one run folder."""
        options = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self.options).items()}
        for transient in ("device", "base_url", "api_key_env", "concurrency", "max_retries", "timeout_s"):
            options.pop(transient)  # where and how fast it runs does not change the answers
        options.pop("protocol")  # the same as the top-level ``protocol``
        return {
            "protocol": self.protocol,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "limit": self.limit,
            "shard": str(self.shard),
            "options": options,
        }


@dataclass(frozen=True)
class VariantWork:
    dataset: str
    variant: str
    task: Task
    items: tuple[Item, ...]  # selected by ``limit`` and ``shard`` (labels only, no image bytes)
    todo: tuple[Item, ...]  # of those, not yet answered


@dataclass
class EvaluateOutcome:
    generated: int = 0
    skipped: int = 0
    failed: int = 0  # items left without an answer (a rerun retries them)
    errors: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)


def plan(config: EvaluateConfig) -> list[VariantWork]:
    present = list_variants(config.data)
    for name, wanted, known in (
        ("datasets", config.datasets, set(present)),
        ("variants", config.variants, {v for vs in present.values() for v in vs}),
    ):
        missing = sorted(set(wanted) - known)
        if missing:
            raise ConfigError(f"`{name}`: {missing} not in {config.data} (present: {sorted(known)})")
    work = []
    for dataset, variants in present.items():
        if config.datasets and dataset not in config.datasets:
            continue
        for variant in variants:
            if config.variants and variant not in config.variants:
                continue
            items = select_items(read_labelled_items(config.data, dataset, variant), config.limit, config.shard)
            task = task_of(items, f"{config.data}/{dataset}/{variant}")
            done = read_predictions(predictions_file(config.out, dataset, variant))
            todo = tuple(item for item in items if item.id not in done)
            work.append(VariantWork(dataset, variant, task, items, todo))
    return work


def check_run_info(config: EvaluateConfig, adapter_name: str, manifest: str) -> dict[str, Any]:
    """The run.json content for this invocation; refuses a run folder made with other settings
    (a protocol of another name or version included)."""
    info: dict[str, Any] = {
        "model": config.model,
        "adapter_name": adapter_name,
        "data": str(Path(config.data).resolve()),
        "manifest_sha256": manifest,
        "params": config.identity(),
        PROTOCOL_KEY: get_protocol(config.protocol).record(),
    }
    path = run_info_path(config.out)
    if path.is_file():
        previous = read_run_info(config.out)
        for key in ("model", "adapter_name", "manifest_sha256", "params", PROTOCOL_KEY):
            was, now = previous.get(key), info[key]
            if key == PROTOCOL_KEY and was is None:
                continue  # written before protocols had versions; params hold the name
            if was != now:
                if isinstance(was, dict) and isinstance(now, dict):  # name only the settings that changed
                    changed = sorted(k for k in was.keys() | now.keys() if was.get(k) != now.get(k))
                    was, now = ({k: d.get(k) for k in changed} for d in (was, now))
                raise DataFormatError(
                    f"{path}: this run folder was made with {key}={was!r}, now {now!r}; "
                    "use another `out` folder (or delete this one) instead of mixing answers"
                )
        info["adapter"] = previous.get("adapter")
    return info


def decode_image(item: Item, where: str) -> Image.Image:
    """The item's image as RGB, decoded by the same rules (EXIF orientation, alpha over white,
    16-bit scaling) as the images ``generate`` perturbed, so every variant is seen alike."""
    try:
        return Image.fromarray(load_rgb(item.image or b"", item_id=item.id))
    except ImageDecodeError as exc:
        raise DataFormatError(f"{where}: item {item.id!r}: field 'image' cannot be decoded ({exc})") from None


def run_evaluate(
    config: EvaluateConfig, adapter: ModelAdapter | None = None, *, show_progress: bool = True
) -> EvaluateOutcome:
    """Answer what is missing, then score everything the run folder holds."""
    with folder_lock(Path(config.out), "evaluate", started_marker=RUN_INFO):
        return _evaluate_locked(config, adapter, show_progress)


def _evaluate_locked(config: EvaluateConfig, adapter: ModelAdapter | None, show_progress: bool) -> EvaluateOutcome:
    from robustbench_mllm.models.detect import detect_adapter, load_adapter

    if config.batch_size < 1:
        raise ConfigError(f"`batch_size` must be >= 1, got {config.batch_size}")
    protocol = resolve_protocol(config.data, config.protocol)
    config = replace(config, protocol=protocol.name, options=replace(config.options, protocol=protocol.name))
    adapter_name = config.adapter or detect_adapter(config.model, config.options.base_url)
    info = check_run_info(config, adapter_name, manifest_sha256(config.data))
    work = plan(config)
    outcome = EvaluateOutcome(skipped=sum(len(w.items) - len(w.todo) for w in work))
    todo_total = sum(len(w.todo) for w in work)
    # a finished run loads no model
    loaded = (adapter or load_adapter(config.model, config.options, adapter_name)) if todo_total else None
    if loaded is not None:
        info["adapter"] = loaded.describe()
    write_run_info(config.out, info)
    if loaded is not None:
        _generate_all(config, protocol, loaded, work, todo_total, show_progress, outcome)
    outcome.results = score_run(config.out, config.data, config.limit, config.shard, info)
    return outcome


def progress_columns() -> tuple[Any, ...]:
    """Variant, bar, done/total, items per second and the time left (the ETA)."""
    from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class ItemsPerSecond(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed  # a recent window; else the mean so far
            if not speed and task.elapsed:
                speed = task.completed / task.elapsed
            return Text(f"{speed:.2f} items/s" if speed else "- items/s", style="progress.data.speed")

    return (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), ItemsPerSecond(),
            TextColumn("ETA"), TimeRemainingColumn())


def _generate_all(
    config: EvaluateConfig, protocol: Protocol, adapter: ModelAdapter, work: list[VariantWork], total: int,
    show: bool, outcome: EvaluateOutcome,
) -> None:
    from rich.progress import Progress

    with Progress(*progress_columns(), disable=not show) as progress:
        bar = progress.add_task("evaluate", total=total)
        for unit in (w for w in work if w.todo):
            max_new = config.max_new_tokens or DEFAULT_MAX_NEW_TOKENS[unit.task]
            params = GenerationParams(max_new_tokens=max_new, temperature=config.temperature,
                                      batch_size=config.batch_size)
            target = predictions_file(config.out, unit.dataset, unit.variant)
            where = f"{config.data}/{unit.dataset}/{unit.variant}"
            progress.update(bar, description=f"{unit.dataset}/{unit.variant}")
            # images are read one variant at a time, only for the items still to answer
            wanted = {item.id for item in unit.todo}
            todo = [item for item in load_items(config.data, unit.dataset, unit.variant) if item.id in wanted]
            for start in range(0, len(todo), config.batch_size):
                chunk = todo[start : start + config.batch_size]
                batch = [(decode_image(item, where), prompt_for(item, unit.task, protocol)) for item in chunk]
                try:
                    answers: list[str | None] = list(adapter.generate(batch, params))
                except PartialGenerationError as exc:  # keep what did come back
                    answers = exc.answers
                    outcome.errors.extend(exc.errors)
                if len(answers) != len(chunk):
                    raise RemoteError(f"adapter returned {len(answers)} answers for {len(chunk)} items")
                kept = [
                    Prediction(item.id, unit.dataset, unit.variant, answer)
                    for item, answer in zip(chunk, answers)
                    if answer is not None
                ]
                append_predictions(target, kept)
                outcome.generated += len(kept)
                outcome.failed += len(chunk) - len(kept)
                progress.advance(bar, len(chunk))
