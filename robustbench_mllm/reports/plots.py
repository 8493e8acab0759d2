"""PNG figures of the report (matplotlib, headless): per-perturbation bars with the relative change
over the baseline, and severity curves per modality (like the paper's Figures 3-5)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from robustbench_mllm.reports.summary import LOWER_IS_BETTER, MODALITY_LETTER, swept

_DPI = 90


def _figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **options: Any) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")  # no display; must run before pyplot is imported anywhere
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, **options)


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    # bbox_inches="tight" fits rotated labels in one draw (tight_layout would draw twice); fast zlib.
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", pil_kwargs={"compress_level": 1})
    plt.close(fig)
    return buffer.getvalue()


def perturbation_bars(metrics: pd.DataFrame, dataset: str, metric: str, title: str,
                      baseline: str | None = None) -> bytes | None:
    """Grouped bars per variant and model with 95% CIs; with a baseline, a panel underneath shows
    the relative change of every other model over it, in percent."""
    part = metrics[(metrics["dataset"] == dataset) & (metrics["metric"] == metric)]
    if part.empty:
        return None
    variants = list(dict.fromkeys(part["variant"]))
    models = list(dict.fromkeys(part["model"]))
    wide = part.pivot_table(index="variant", columns="model", values="value", aggfunc="first").reindex(variants)
    low = part.pivot_table(index="variant", columns="model", values="ci_low", aggfunc="first").reindex(variants)
    high = part.pivot_table(index="variant", columns="model", values="ci_high", aggfunc="first").reindex(variants)
    others = [m for m in models if m != baseline] if baseline in models else []
    # Wide enough for every bar, narrow enough that the HTML page shows it at full size.
    width = min(16.0, max(6.0, 1.5 + len(variants) * (0.18 * len(models) + 0.12)))
    fig, axes = _figure(width, 6.4 if others else 4.0, nrows=1 + bool(others), sharex=True,
                        gridspec_kw={"height_ratios": [3, 2]} if others else None)
    better = "lower" if metric.partition(".")[0] in LOWER_IS_BETTER else "higher"
    fig.suptitle(f"{dataset}: {title} per variant ({better} is better; 95% CI)", fontsize=11)
    x = np.arange(len(variants))
    width_bar = 0.8 / len(models)
    ax = axes[0][0]
    for i, model in enumerate(models):
        values = wide.get(model, pd.Series(np.nan, index=variants)).to_numpy(dtype=float)
        err = _error_bars(values, low.get(model), high.get(model))
        ax.bar(x + i * width_bar - 0.4 + width_bar / 2, values, width_bar, yerr=err, capsize=2, label=model)
    _style_axes(ax, title)
    if others:
        ax2 = axes[1][0]
        base = wide[baseline].to_numpy(dtype=float)
        for i, model in enumerate(others):
            with np.errstate(invalid="ignore", divide="ignore"):
                gain = 100.0 * (wide[model].to_numpy(dtype=float) - base) / base
            ax2.bar(x + i * (0.8 / len(others)) - 0.4 + 0.4 / len(others), gain, 0.8 / len(others), label=model,
                    color=f"C{models.index(model)}")  # the model's colour in the panel above
        ax2.axhline(0, color="black", linewidth=0.8)
        _style_axes(ax2, f"% change vs {baseline}")
    bottom = axes[-1][0]
    bottom.set_xticks(x)
    bottom.set_xticklabels(variants, rotation=60, ha="right", fontsize=8)
    return _png(fig)


def _error_bars(values: np.ndarray, low: pd.Series | None, high: pd.Series | None) -> np.ndarray | None:
    if low is None or high is None:
        return None
    lo, hi = low.to_numpy(dtype=float), high.to_numpy(dtype=float)
    if np.all(np.isnan(lo)):
        return None
    return np.nan_to_num(np.vstack([values - lo, hi - values]), nan=0.0).clip(min=0)


def _style_axes(ax: Any, ylabel: str) -> None:
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: never over a bar
    ax.grid(axis="y", alpha=0.3)


def severity_curves(metrics: pd.DataFrame, dataset: str, metric: str, title: str) -> bytes | None:
    """One panel per perturbed modality: mean metric over its swept perturbations at each severity,
    with clean as severity 0 where the metric has a clean value. Drawn only when some perturbation
    has more than one severity."""
    part = metrics[(metrics["dataset"] == dataset) & (metrics["metric"] == metric)]
    perturbed = swept(part[part["modality"] != "clean"])
    modalities = [m for m in ("visual", "text", "joint")
                  if perturbed.loc[perturbed["modality"] == m, "severity"].nunique() > 1]
    if not modalities:
        return None
    fig, axes = _figure(3.6 * len(modalities) + 0.8, 3.4, ncols=len(modalities), sharey=True)
    clean = part[part["modality"] == "clean"].set_index("model")["value"]
    for ax, modality in zip(axes[0], modalities, strict=False):
        rows = perturbed[perturbed["modality"] == modality]
        for model, group in rows.groupby("model", sort=False):
            curve = group.groupby("severity")["value"].mean()
            if model in clean.index:
                curve = pd.concat([pd.Series({0: float(clean[model])}), curve])
            ax.plot(curve.index, curve.to_numpy(), marker="o", label=model)
        ax.set_xticks(sorted({*rows["severity"].unique(), *([0] if len(clean) else [])}))
        ax.set_xlabel("severity (0 = clean)" if len(clean) else "severity")
        ax.set_title(f"{modality} shifts ({MODALITY_LETTER[modality]})", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(title)
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"{dataset}: {title} by severity (mean over the perturbations swept)", fontsize=11,
                 y=1.04)  # above the panel titles; the tight bounding box keeps it in the PNG
    return _png(fig)
