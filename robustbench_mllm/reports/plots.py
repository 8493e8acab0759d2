"""PNG figures of the report (matplotlib, headless): per-perturbation bars with the relative change
over the baseline, and severity curves per modality (like the paper's Figures 3-5)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from robustbench_mllm.reports.summary import MODALITY_LETTER, swept

_DPI = 90


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")  # no display; must run before pyplot is imported anywhere
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(width, height), squeeze=False)


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    # bbox_inches="tight" fits rotated labels in one draw (tight_layout would draw twice); fast zlib.
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", pil_kwargs={"compress_level": 1})
    plt.close(fig)
    return buffer.getvalue()


def perturbation_bars(metrics: pd.DataFrame, dataset: str, metric: str, title: str,
                      baseline: str | None = None) -> bytes | None:
    """Grouped bars per variant and model with 95% CIs; with a baseline, a second panel shows the
    relative change of every other model over it, in percent."""
    part = metrics[(metrics["dataset"] == dataset) & (metrics["metric"] == metric)]
    if part.empty:
        return None
    variants = list(dict.fromkeys(part["variant"]))
    models = list(dict.fromkeys(part["model"]))
    wide = part.pivot_table(index="variant", columns="model", values="value", aggfunc="first").reindex(variants)
    low = part.pivot_table(index="variant", columns="model", values="ci_low", aggfunc="first").reindex(variants)
    high = part.pivot_table(index="variant", columns="model", values="ci_high", aggfunc="first").reindex(variants)
    others = [m for m in models if m != baseline] if baseline in models else []
    panel_width = max(5.0, 0.35 * len(variants) * len(models))
    fig, axes = _figure(panel_width * (1 + bool(others)), 4.2, ncols=1 + bool(others))
    fig.subplots_adjust(wspace=0.3)
    x = np.arange(len(variants))
    width = 0.8 / len(models)
    ax = axes[0][0]
    for i, model in enumerate(models):
        values = wide.get(model, pd.Series(np.nan, index=variants)).to_numpy(dtype=float)
        err = _error_bars(values, low.get(model), high.get(model))
        ax.bar(x + i * width - 0.4 + width / 2, values, width, yerr=err, capsize=2, label=model)
    _label_axes(ax, x, variants, f"{dataset}: {title}", title)
    if others:
        ax2 = axes[0][1]
        base = wide[baseline].to_numpy(dtype=float)
        for i, model in enumerate(others):
            with np.errstate(invalid="ignore", divide="ignore"):
                gain = 100.0 * (wide[model].to_numpy(dtype=float) - base) / base
            ax2.bar(x + i * (0.8 / len(others)) - 0.4 + 0.4 / len(others), gain, 0.8 / len(others), label=model)
        ax2.axhline(0, color="black", linewidth=0.8)
        _label_axes(ax2, x, variants, f"relative change over {baseline}", "% change")
    return _png(fig)


def _error_bars(values: np.ndarray, low: pd.Series | None, high: pd.Series | None) -> np.ndarray | None:
    if low is None or high is None:
        return None
    lo, hi = low.to_numpy(dtype=float), high.to_numpy(dtype=float)
    if np.all(np.isnan(lo)):
        return None
    return np.nan_to_num(np.vstack([values - lo, hi - values]), nan=0.0).clip(min=0)


def _label_axes(ax: Any, x: np.ndarray, names: list[str], title: str, ylabel: str) -> None:
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def severity_curves(metrics: pd.DataFrame, dataset: str, metric: str, title: str) -> bytes | None:
    """One panel per perturbed modality: mean metric over its swept perturbations at each severity,
    with clean as severity 0. Drawn only when some perturbation has more than one severity."""
    part = metrics[(metrics["dataset"] == dataset) & (metrics["metric"] == metric)]
    perturbed = swept(part[part["modality"] != "clean"])
    modalities = [m for m in ("visual", "text", "joint")
                  if perturbed.loc[perturbed["modality"] == m, "severity"].nunique() > 1]
    if not modalities:
        return None
    fig, axes = _figure(4.0 * len(modalities), 3.4, ncols=len(modalities))
    clean = part[part["modality"] == "clean"].set_index("model")["value"]
    for ax, modality in zip(axes[0], modalities, strict=False):
        rows = perturbed[perturbed["modality"] == modality]
        for model, group in rows.groupby("model", sort=False):
            curve = group.groupby("severity")["value"].mean()
            if model in clean.index:
                curve = pd.concat([pd.Series({0: float(clean[model])}), curve])
            ax.plot(curve.index, curve.to_numpy(), marker="o", label=model)
        ax.set_xticks(sorted({0, *rows["severity"].unique()}))
        ax.set_xlabel("severity (0 = clean)")
        ax.set_ylabel(title)
        ax.set_title(f"{dataset}: {MODALITY_LETTER[modality]} shifts", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png(fig)
