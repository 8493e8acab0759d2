"""``robust-mllm represent``: an MLLM's hidden states under shift (the paper's Table 4 analysis).

For every generated variant, the decoder layer-``layer`` state at the last input token of each
item (adapter ``hidden_states(batch, layer)``) is stored in
``OUT/hidden_states/layer<L>/<dataset>/<variant>.safetensors`` (tensor ``states``, item ids in the
metadata), written atomically per variant, so a rerun only computes what is missing. Then, per
variant against clean: representation JSD (each kind beside its permutation baseline), the paired
cosine distance per item (summary + histogram PNG) and a 2-D PCA PNG; results section
"represent".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_mllm.errors import ConfigError, DataFormatError, MissingResourceError
from robustbench_mllm.metrics.distances import distance_summary, paired_cosine_distances
from robustbench_mllm.metrics.jsd import JSDKind, jsd_with_baseline
from robustbench_mllm.models.base import HiddenStateAdapter
from robustbench_mllm.store.hidden_states import (
    StoredStates,
    load_states,
    pin_states,
    save_states,
    states_file,
)
from robustbench_mllm.store.results import update_results

SECTION = "represent"


@dataclass(frozen=True)
class RepresentConfig:
    model: str
    data: Path
    out: Path
    layer: int = 24
    adapter: str | None = None
    batch_size: int = 8
    datasets: tuple[str, ...] = ()  # empty: all
    jsd_kinds: tuple[JSDKind, ...] = ("linear", "gaussian")
    permutations: int = 20
    seed: int = 0
    device: str = "auto"
    protocol: str | None = None  # None: the one recorded with the data


def collect_states(config: RepresentConfig, adapter_factory: Callable[[], Any],
                   on_items: Callable[[int], None] | None = None) -> dict[str, dict[str, StoredStates]]:
    """Stored states of every variant, computing (and storing) those not on disk yet; the model is
    loaded only when something is missing."""
    from robustbench_mllm.prompts import prompt_for
    from robustbench_mllm.runners.evaluate.run import decode_image
    from robustbench_mllm.runners.evaluate.scoring import task_of
    from robustbench_mllm.store.manifest import resolve_protocol
    from robustbench_mllm.store.variants import list_variants, load_items

    protocol = resolve_protocol(config.data, config.protocol)

    present = list_variants(config.data)
    unknown = set(config.datasets) - set(present)
    if unknown:
        raise ConfigError(f"`datasets` {sorted(unknown)}: not in {config.data} (have {sorted(present)})")
    adapter: HiddenStateAdapter | None = None
    found: dict[str, dict[str, StoredStates]] = {}
    for dataset, variants in present.items():
        if config.datasets and dataset not in config.datasets:
            continue
        for variant in variants:
            path = states_file(config.out, config.layer, dataset, variant)
            if not path.is_file():
                items = load_items(config.data, dataset, variant)
                where = f"{config.data}/{dataset}/{variant}"
                task = task_of(items, where)
                if adapter is None:
                    adapter = adapter_factory()
                    if not hasattr(adapter, "hidden_states"):
                        raise ConfigError(f"adapter {type(adapter).__name__} offers no hidden_states")
                rows = []
                for start in range(0, len(items), config.batch_size):
                    chunk = items[start:start + config.batch_size]
                    batch = [(decode_image(it, where), prompt_for(it, task, protocol)) for it in chunk]
                    rows.append(np.asarray(adapter.hidden_states(batch, config.layer), dtype=np.float32))
                    if on_items:
                        on_items(len(chunk))
                save_states(path, StoredStates(tuple(it.id for it in items), np.vstack(rows)))
            found.setdefault(dataset, {})[variant] = load_states(path)
    return found


def _paired(clean: StoredStates, shifted: StoredStates) -> tuple[np.ndarray, np.ndarray]:
    index = {item_id: row for row, item_id in enumerate(shifted.ids)}
    rows = [(i, index[item_id]) for i, item_id in enumerate(clean.ids) if item_id in index]
    if not rows:
        raise DataFormatError("no item ids shared by the clean and the shifted variant")
    a, b = zip(*rows)
    return clean.states[list(a)], shifted.states[list(b)]


def analyse(config: RepresentConfig, states: dict[str, dict[str, StoredStates]]) -> dict[str, Any]:
    """JSD, cosine distances and the two PNGs per dataset; returns the results section."""
    from robustbench_mllm.metrics.representation_plots import cosine_histograms, pca_scatters

    datasets: dict[str, Any] = {}
    plots: dict[str, dict[str, str]] = {}
    for dataset, variants in states.items():
        if "clean" not in variants:
            raise MissingResourceError(f"{config.data}/{dataset}: no clean variant to compare against")
        clean = variants["clean"]
        rows, distances, shifted_states = {}, {}, {}
        for variant, stored in variants.items():
            if variant == "clean":
                continue
            a, b = _paired(clean, stored)
            distances[variant] = paired_cosine_distances(a, b)
            shifted_states[variant] = b
            rows[variant] = {
                "n": len(a),
                "jsd": {kind: jsd_with_baseline(clean.states, stored.states, kind,
                                                permutations=config.permutations, seed=config.seed).to_dict()
                        for kind in config.jsd_kinds},
                "cosine_distance": distance_summary(distances[variant]),
            }
        datasets[dataset] = rows
        if rows:
            figures = Path(config.out).resolve() / "figures"  # results.json paths must not depend on the cwd
            title = f"{dataset}, layer {config.layer}"
            plots[dataset] = {
                "histogram": str(cosine_histograms(distances, title, figures / f"{dataset}_cosine_layer{config.layer}.png")),
                "pca": str(pca_scatters(clean.states, shifted_states, title, figures / f"{dataset}_pca_layer{config.layer}.png")),
            }
    return {"model": config.model, "layer": config.layer, "jsd_kinds": list(config.jsd_kinds),
            "permutations": config.permutations, "datasets": datasets, "plots": plots}


def check_identity(config: RepresentConfig) -> None:
    """RUN/represent.json pins model and data: stored states from another model are never mixed in."""
    pin_states(config.out, {"model": config.model, "data": str(Path(config.data).resolve()), "adapter": config.adapter})


def run_represent(config: RepresentConfig, adapter_factory: Callable[[], Any] | None = None,
                  on_items: Callable[[int], None] | None = None) -> dict[str, Any]:
    from robustbench_mllm.models.detect import load_adapter
    from robustbench_mllm.models.options import LoadOptions
    from robustbench_mllm.store.manifest import resolve_protocol
    from robustbench_mllm.store.variants import list_variants

    # the model sees the prompt (template, padding) of the protocol its answers were scored under
    protocol = resolve_protocol(config.data, config.protocol)
    options = LoadOptions(device=config.device, protocol=protocol.name)
    factory = adapter_factory or (lambda: load_adapter(config.model, options, config.adapter))
    list_variants(config.data)  # a bad data folder fails here, before represent.json pins it
    check_identity(config)
    payload = analyse(config, collect_states(config, factory, on_items))
    update_results(config.out, SECTION, payload, protocol)
    return payload
