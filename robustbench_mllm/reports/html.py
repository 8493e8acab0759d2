"""The HTML page's pieces: tables (a header row between the V / T / J groups), inline JPEG
thumbnails of figures and images, and the page template."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import pandas as pd

from robustbench_mllm.reports.tables import GROUP, MODALITY_NAME

LABEL_COLUMNS = frozenset({"model", GROUP, "perturbation", "variant"})
FIGURE_THUMBNAIL_PX = 960  # wide enough to read on the page; the full-size PNG is one click away
JPEG_QUALITY = 80
_LETTER_NAME = {"V": MODALITY_NAME["visual"], "T": MODALITY_NAME["text"], "J": MODALITY_NAME["joint"]}


def thumbnail(data: bytes, size: int = FIGURE_THUMBNAIL_PX) -> str:
    """``data`` (any image Pillow reads) as a base64 JPEG at most ``size`` px on its long side."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def html_table(frame: pd.DataFrame) -> str:
    """Names left, numbers right; a table with a modality column gets a full-width header row
    at each change of modality instead of repeating it on every row."""
    if frame.empty:
        return "<p>–</p>"
    columns = [str(c) for c in frame.columns]
    grouped = GROUP in columns and frame[GROUP].nunique() > 1
    shown = [c for c in columns if not (grouped and c == GROUP)]
    align = [' class="label"' if c in LABEL_COLUMNS else "" for c in shown]
    head = "".join(f"<th{a}>{html.escape(c)}</th>" for a, c in zip(align, shown, strict=True))
    body, previous = [], None
    for row in frame.to_dict("records"):
        if grouped and row[GROUP] != previous:
            previous = row[GROUP]
            name = _LETTER_NAME.get(str(previous), str(previous))
            body.append(f'<tr class="group"><th colspan="{len(shown)}">{html.escape(name)}</th></tr>')
        body.append("<tr>" + "".join(f"<td{a}>{html.escape(str(row[c]))}</td>"
                                     for a, c in zip(align, shown, strict=True)) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_page(context: dict[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("robustbench_mllm", "reports"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    return env.get_template("report.html.j2").render(**context)
