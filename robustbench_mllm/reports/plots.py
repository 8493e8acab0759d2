"""PNG figures of the report (matplotlib, headless, constrained layout).

- ``perturbation_figure``: one panel per modality (V | T | J), a bar per perturbation at the
  default severity, models side by side with their 95% CIs, and each model's change over the
  baseline printed on its bar (relative for scores, a difference for EMID / JSD / distances);
  the paper's Figures 3, 4 and 12.
- ``severity_figure``: small multiples (rows = models, columns = modalities), a curve per
  perturbation from clean (severity 0) through the severities with its bootstrap CI band; the
  paper's Figure 5. Scores start at a round floor below the data and the title says so whenever
  the axis does not start at 0.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pandas as pd

from robustbench_mllm.reports.aggregate import DEFAULT_SEVERITY, MODALITY_LETTER
from robustbench_mllm.reports.summary import LOWER_IS_BETTER, PERCENT_METRICS, swept
from robustbench_mllm.reports.tables import change

_DPI = 90
PERTURBED = ("visual", "text", "joint")


def _figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **options: Any) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")  # no display; must run before pyplot is imported anywhere
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, layout="constrained", **options)


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    plt.close(fig)
    return buffer.getvalue()


def _suptitle(fig: Any, text: str) -> None:
    """A figure title wrapped to the figure's width (a narrow figure would clip one long line)."""
    import textwrap

    fig.suptitle(textwrap.fill(text, max(40, int(fig.get_figwidth() * 13))), fontsize=10)


def _direction(metric: str) -> str:
    return "lower is better" if metric.partition(".")[0] in LOWER_IS_BETTER else "higher is better"


def _label(perturbation: str) -> str:
    return perturbation.replace("+", "\n+")  # joint names on two lines


def perturbation_figure(metrics: pd.DataFrame, dataset: str, metric: str, title: str,
                        baseline: str | None = None) -> bytes | None:
    part = metrics[(metrics["dataset"] == dataset) & (metrics["metric"] == metric)]
    shifted = part[part["modality"].isin(PERTURBED)]
    at_default = shifted[shifted["severity"] == DEFAULT_SEVERITY]
    shifted = at_default if len(at_default) else shifted
    modalities = [m for m in PERTURBED if (shifted["modality"] == m).any()]
    if not modalities:
        return None
    models = list(dict.fromkeys(part["model"]))
    compared = baseline in models and len(models) > 1
    counts = [shifted.loc[shifted["modality"] == m, "perturbation"].nunique() for m in modalities]
    width = min(18.0, 2.0 + sum(0.35 * len(models) * c + 0.3 for c in counts))
    fig, axes = _figure(width, 4.2, ncols=len(modalities), sharey=True, gridspec_kw={"width_ratios": counts})
    has_ci = bool(shifted["ci_low"].notna().any())
    clean = part[part["modality"] == "clean"].set_index("model")["value"]
    bar = 0.8 / len(models)
    for ax, modality in zip(axes[0], modalities, strict=True):
        rows = shifted[shifted["modality"] == modality]
        names = list(dict.fromkeys(rows["perturbation"]))
        x = np.arange(len(names))
        table = {(r.model, r.perturbation): r for r in rows.itertuples()}
        for i, model in enumerate(models):
            found = [table.get((model, n)) for n in names]
            values = np.array([r.value if r is not None else np.nan for r in found], dtype=float)
            low = np.array([r.ci_low if r is not None else np.nan for r in found], dtype=float)
            high = np.array([r.ci_high if r is not None else np.nan for r in found], dtype=float)
            err = np.nan_to_num(np.vstack([values - low, high - values]), nan=0.0).clip(min=0) if has_ci else None
            where = x - 0.4 + bar * (i + 0.5)
            ax.bar(where, values, bar, yerr=err, capsize=2, color=f"C{i}", label=model)
            if model in clean.index:
                ax.axhline(float(clean[model]), color=f"C{i}", linestyle=":", linewidth=1)
            if compared and model != baseline:
                base = [table.get((baseline, n)) for n in names]
                for xi, value, b, top in zip(where, values, base, np.where(np.isnan(high), values, high), strict=True):
                    if b is not None and not math.isnan(value):
                        ax.annotate(change(value, b.value, metric), (xi, top), xytext=(0, 2),
                                    textcoords="offset points", ha="center", va="bottom", fontsize=6, rotation=90)
        ax.set_xticks(x)
        ax.set_xticklabels([_label(n) for n in names], rotation=45, ha="right", fontsize=7)
        ax.set_title(f"{modality} ({MODALITY_LETTER[modality]})", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    low, high = axes[0][0].get_ylim()
    axes[0][0].set_ylim(low, high + (0.2 if compared else 0.05) * (high - low))  # room for the printed changes
    axes[0][0].set_ylabel(title)
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    severity = f" at severity {DEFAULT_SEVERITY}" if (shifted["severity"] == DEFAULT_SEVERITY).all() else ""
    notes = [_direction(metric)] + (["95% CI"] if has_ci else []) + (["dotted: clean"] if len(clean) else [])
    if compared:
        notes.append(("relative change" if metric.partition(".")[0] in PERCENT_METRICS else "difference")
                     + f" vs {baseline} on the bars")
    _suptitle(fig, f"{dataset}: {title} per perturbation{severity} ({'; '.join(notes)})")
    return _png(fig)


def _floor(values: np.ndarray, metric: str) -> tuple[float | None, float | None]:
    """Scores: round limits 5 points beyond the data (0..100 at most); others: include zero."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return None, None
    if metric.partition(".")[0] in PERCENT_METRICS:
        low = max(0.0, 10.0 * math.floor((finite.min() - 5.0) / 10.0))
        high = min(100.0, 10.0 * math.ceil((finite.max() + 5.0) / 10.0))
        return low, max(high, low + 10.0)
    span = max(finite.max(), 0.0) - min(finite.min(), 0.0) or 1.0
    return min(finite.min(), 0.0) - 0.05 * span, max(finite.max(), 0.0) + 0.05 * span


def severity_figure(metrics: pd.DataFrame, dataset: str, metric: str, title: str) -> bytes | None:
    part = metrics[(metrics["dataset"] == dataset) & (metrics["metric"] == metric)]
    perturbed = swept(part[part["modality"].isin(PERTURBED)])
    modalities = [m for m in PERTURBED if perturbed.loc[perturbed["modality"] == m, "severity"].nunique() > 1]
    if not modalities:
        return None
    perturbed = perturbed[perturbed["modality"].isin(modalities)]
    models = list(dict.fromkeys(part["model"]))
    clean = part[part["modality"] == "clean"].set_index("model")
    fig, axes = _figure(3.8 * len(modalities) + 0.5, 2.9 * len(models) + 1.2, nrows=len(models),
                        ncols=len(modalities), sharey=True, sharex=True)
    for r, model in enumerate(models):
        for c, modality in enumerate(modalities):
            ax = axes[r][c]
            rows = perturbed[(perturbed["model"] == model) & (perturbed["modality"] == modality)]
            for k, (name, curve) in enumerate(rows.groupby("perturbation", sort=False)):
                curve = curve.sort_values("severity")
                x, y = curve["severity"].to_numpy(float), curve["value"].to_numpy(float)
                low, high = curve["ci_low"].to_numpy(float), curve["ci_high"].to_numpy(float)
                if model in clean.index:
                    start = clean.loc[model]
                    x, y = np.r_[0.0, x], np.r_[float(start["value"]), y]
                    low, high = np.r_[float(start["ci_low"]), low], np.r_[float(start["ci_high"]), high]
                color = f"C{k % 10}"
                ax.plot(x, y, marker="o", markersize=3, linewidth=1.2, color=color, label=name,
                        linestyle="-" if k < 10 else "--")
                if np.isfinite(low).any():
                    ax.fill_between(x, low, high, color=color, alpha=0.12, linewidth=0)
            ax.set_title(f"{model}: {modality} ({MODALITY_LETTER[modality]})", fontsize=9)
            ax.grid(alpha=0.3)
            if r == len(models) - 1:
                ax.set_xlabel("severity (0 = clean)" if len(clean) else "severity", fontsize=8)
                ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
        axes[r][0].set_ylabel(title, fontsize=8)
    everything = np.r_[perturbed["ci_low"].to_numpy(float), perturbed["ci_high"].to_numpy(float),
                       perturbed["value"].to_numpy(float), clean["value"].to_numpy(float) if len(clean) else []]
    low, high = _floor(everything, metric)
    zoom = ""
    if low is not None:
        axes[0][0].set_ylim(low, high)
        zoom = f"; y axis from {low:g}, not 0" if low > 0 else ""
    axes[0][0].set_xticks(sorted({0, *perturbed["severity"].astype(int)}) if len(clean)
                          else sorted(set(perturbed["severity"].astype(int))))
    band = "; bands: 95% CI" if perturbed["ci_low"].notna().any() else ""
    _suptitle(fig, f"{dataset}: {title} by severity, one curve per perturbation ({_direction(metric)}{band}{zoom})")
    return _png(fig)
