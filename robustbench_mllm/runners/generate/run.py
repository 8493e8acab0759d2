"""``robust-mllm generate``: read a suite, write every variant, then the manifest.

Steps: load items (``--limit`` per split), decode every distinct image once, keeping the pixels
in a scratch folder for the work units (``runners.generate.decoded``) and finding bad files (``--on-error
fail`` stops with the file and item id; ``skip`` drops that image's items from every variant and
lists them in ``failures.jsonl``), compute all perturbed questions in this process (translation
may call an API), then run the image work units, in this process or a pool of ``num_proc``
processes. Variants already on disk are kept: a rerun after a crash makes only the missing ones,
and the result is byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.records import Item, SourceInfo, VariantSpec
from robustbench_mllm.runners.generate.decoded import array_files, decode_to_file, remove_decoded
from robustbench_mllm.runners.generate.plan import GenerateConfig, select_variants, with_storage
from robustbench_mllm.runners.generate.protocol_record import protocol_section
from robustbench_mllm.runners.generate.texts import texts_for_variants
from robustbench_mllm.runners.generate.worker import VariantResult, WorkUnit, make_units, run_unit
from robustbench_mllm.store.layout import MANIFEST, variant_file
from robustbench_mllm.store.locking import folder_lock
from robustbench_mllm.store.manifest import build_manifest, check_resumable, write_failures, write_manifest

TextHook = Callable[[frozenset[str]], None]


@dataclass(frozen=True)
class GenerateSummary:
    out: Path
    written: tuple[VariantResult, ...]
    existing: tuple[tuple[str, str], ...]  # (dataset, variant) kept from an earlier run
    failures: tuple[dict[str, Any], ...]
    protocol: dict[str, Any]  # the manifest's "protocol" section


def limit_per_split(items: list[Item], limit: int | None) -> list[Item]:
    if limit is None:
        return items
    taken: dict[str, int] = {}
    kept = []
    for item in items:
        if taken.get(item.split, 0) < limit:
            taken[item.split] = taken.get(item.split, 0) + 1
            kept.append(item)
    return kept


def _check_unique(items: Sequence[Item], dataset: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise DataFormatError(f"{dataset}: item id {item.id!r} occurs twice (ids must be unique)")
        seen.add(item.id)


def _screen_questions(items: list[Item], on_error: str) -> tuple[list[Item], list[dict[str, Any]]]:
    """Items with an empty or whitespace-only question are bad data: raise (fail) or drop them
    from every variant and record them (skip)."""
    empty = [item for item in items if not item.question.strip()]
    if empty and on_error == "fail":
        item = empty[0]
        where = item.question_origin or f"{item.dataset}: item {item.id!r}: field 'question'"
        raise DataFormatError(f"{where}: the question is empty; write it, or set `on_error` skip to record "
                              "such items in failures.jsonl and go on")
    failures = [
        {"dataset": item.dataset, "item_id": item.id, "image_id": item.image_id,
         "file": item.question_origin or item.dataset, "error": "empty question"}
        for item in empty
    ]
    return [item for item in items if item.question.strip()], failures


def _screen_images(
    items: list[Item], on_error: str, pool: Executor | None, out: Path, dataset: str
) -> tuple[list[Item], list[dict[str, Any]], dict[str, Path]]:
    """Decode each distinct image once into the scratch folder; drop (skip) or raise (fail) on a
    bad one. Returns the kept items, the failures and ``{image id: decoded array file}``."""
    first: dict[str, Item] = {}
    for item in items:
        first.setdefault(item.image_id, item)
    probes = list(first.values())
    arrays = array_files(out, dataset, list(first))
    targets = [arrays[item.image_id] for item in probes]
    errors = list(pool.map(decode_to_file, probes, targets)) if pool else list(map(decode_to_file, probes, targets))
    bad = {item.image_id: error for item, error in zip(probes, errors) if error}
    if bad and on_error == "fail":
        error = next(iter(bad.values()))
        raise DataFormatError(f"{error} (use `on_error` skip to record bad images and go on)")
    failures = [
        {"dataset": item.dataset, "item_id": item.id, "image_id": item.image_id,
         "file": str(item.image) if isinstance(item.image, Path) else "<bytes>", "error": bad[item.image_id]}
        for item in items if item.image_id in bad
    ]
    kept = {image_id: path for image_id, path in arrays.items() if image_id not in bad}
    return [item for item in items if item.image_id not in bad], failures, kept


def _remove_stale_temps(out: Path, datasets: Sequence[str]) -> None:
    for dataset in datasets:
        for temp in (Path(out) / dataset).glob(".*.tmp-*"):
            shutil.rmtree(temp, ignore_errors=True)


def _execute(units: list[WorkUnit], pool: Executor | None, progress: Callable[[int], None]) -> list[VariantResult]:
    results: list[VariantResult] = []
    if pool is None:
        for unit in units:
            done = run_unit(unit)
            results.extend(done)
            progress(len(unit.specs))
        return results
    futures = {pool.submit(run_unit, unit): unit for unit in units}
    for future in as_completed(futures):
        results.extend(future.result())
        progress(len(futures[future].specs))
    return results


Plan = tuple[SourceInfo, list[Item], list[VariantSpec], dict[str, Path]]


def _load_plans(
    params: GenerateConfig, pool: Executor | None, out: Path
) -> tuple[list[Plan], list[dict[str, Any]]]:
    """Per source: its items (limited, with bad images screened out), the variants to make and
    the decoded image files."""
    from robustbench_mllm.sources.catalog import default_perturbations, suite_sources

    plans: list[Plan] = []
    failures: list[dict[str, Any]] = []
    for source in suite_sources(params.suite, params.source, params.images, params.allow_nonstandard):
        info = source.info()
        items = limit_per_split(list(source.load()), params.limit)
        _check_unique(items, info.dataset)
        items, empty = _screen_questions(items, params.on_error)
        items, bad, arrays = _screen_images(items, params.on_error, pool, out, info.dataset)
        failures.extend(empty + bad)
        selection = params.perturbations or default_perturbations(params.suite)  # clean only: unperturbed suites
        specs = select_variants(selection, info.task, params.severities, params.seed)
        plans.append((info, items, specs, arrays))
    return plans, failures


def _present(out: Path, dataset: str, spec: VariantSpec) -> bool:
    return variant_file(out, dataset, spec.name).is_file()


def run_generate(
    params: GenerateConfig, out: Path, num_proc: int = 1,
    text_hook: TextHook | None = None, progress: Callable[[int], Callable[[int], None]] | None = None,
) -> GenerateSummary:
    """Generate into ``out``. ``text_hook`` gets the textual perturbations needed before any is
    applied (the CLI configures translation there); ``progress(total)`` returns an ``advance(n)``."""
    out = Path(out)
    params = with_storage(params)
    with folder_lock(out, "generate", started_marker=MANIFEST):
        return _generate_locked(params, out, num_proc, text_hook, progress)


def _generate_locked(
    params: GenerateConfig, out: Path, num_proc: int,
    text_hook: TextHook | None, progress: Callable[[int], Callable[[int], None]] | None,
) -> GenerateSummary:
    identity = params.identity()
    check_resumable(out, identity)
    pool = _make_pool(num_proc)
    try:
        plans, failures = _load_plans(params, pool, out)
        infos, counts = [p[0] for p in plans], {info.dataset: len(items) for info, items, _, _ in plans}
        protocol = protocol_section(params, {s.visual for _, _, specs, _ in plans for s in specs if s.visual})
        write_manifest(out, build_manifest(out, identity, infos, counts, complete=False, protocol=protocol))
        _remove_stale_temps(out, list(counts))
        text_names = frozenset(s.text for _, _, specs, _ in plans for s in specs if s.text)
        if text_hook and text_names:
            text_hook(text_names)
        units: list[WorkUnit] = []
        existing: list[tuple[str, str]] = []
        for info, items, specs, arrays in plans:
            existing.extend((info.dataset, s.name) for s in specs if _present(out, info.dataset, s))
            todo = [s for s in specs if not _present(out, info.dataset, s)]
            texts = texts_for_variants(items, todo, params, protect_objects=info.task == "yes_no")
            units.extend(make_units(info.dataset, items, todo, texts, arrays, out, params))
        advance = progress(sum(len(u.specs) for u in units)) if progress else (lambda n: None)
        written = _execute(units, pool, advance)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        remove_decoded(out)
    write_failures(out, failures)
    hashed = {(r.dataset, r.variant): r.sha256 for r in written}
    write_manifest(out, build_manifest(out, identity, infos, counts, complete=True, known_sha256=hashed,
                                       protocol=protocol))
    written.sort(key=lambda r: (r.dataset, r.variant))
    return GenerateSummary(out, tuple(written), tuple(existing), tuple(failures), protocol)


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _init_worker() -> None:
    import cv2

    # num_proc processes share the cores: OpenCV's own thread pool in each would oversubscribe
    # them (results do not depend on the thread count)
    cv2.setNumThreads(1)
    # After a kill -9 of the main process, workers would go on with the units already queued for
    # them (renaming variants into place under a resumed run) and then wait forever: end with it.
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _make_pool(num_proc: int) -> Executor | None:
    if num_proc <= 1:
        return None
    import multiprocessing

    # spawn: the parent may hold threads (rich's refresher) that make fork unsafe
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=num_proc, mp_context=context, initializer=_init_worker)
