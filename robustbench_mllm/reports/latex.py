"""LaTeX tables that go into a paper as they are: booktabs rules, ``longtable`` for long ones
(they break across pages), never ``\\resizebox`` (a shrunken font does not match the text).
Plain tables come from pandas' Styler; grouped ones (V / T / J) get a ``\\midrule`` between
groups, which Styler cannot place, so they are written here."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from robustbench_mllm.reports.tables import GROUP

PACKAGES = ("booktabs", "longtable")
HEADER = ("% robust-mllm report tables. Needs, in the preamble: "
          + " ".join(rf"\usepackage{{{p}}}" for p in PACKAGES) + "\n% (UTF-8 input, the LaTeX default since 2018.)\n")
LONG_ROWS = 30  # a table with more rows becomes a longtable

_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
            "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}", "–": "--",
            "<": r"\textless{}", ">": r"\textgreater{}"}


_WITH_CI = re.compile(r"^(.+) (\[[^\]]+\])$")
_SIZE = r"\small\setlength{\tabcolsep}{4pt}"  # inside the float: local to the table


def latex_escape(text: str) -> str:
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def latex_cell(value: object) -> str:
    """An escaped cell; "value [low, high]" stacks the interval under the value in a smaller
    font (a nested tabular: no extra package), so tables with CIs fit the text width."""
    text = str(value)
    found = _WITH_CI.match(text)
    if found is None:
        return latex_escape(text)
    value_part, interval = (latex_escape(part) for part in found.groups())
    return rf"\begin{{tabular}}[t]{{@{{}}r@{{}}}}{value_part}\\{{\footnotesize {interval}}}\end{{tabular}}"


def to_latex(table: pd.DataFrame, caption: str, label: str) -> str:
    """A float with booktabs rules; a longtable when it has more than LONG_ROWS rows or groups."""
    if GROUP not in table.columns and len(table) <= LONG_ROWS:
        return _styled(table, caption, label)
    return _grouped(table, caption, label)


def _spec(columns: Sequence[str]) -> str:
    return "".join("l" if c in (GROUP, "model", "perturbation", "variant") else "r" for c in columns)


def _styled(table: pd.DataFrame, caption: str, label: str) -> str:
    styler = table.style.hide(axis="index").format(latex_cell).format_index(escape="latex", axis=1)
    body = styler.to_latex(hrules=True, caption=latex_escape(caption), label=label, position="tbp",
                           position_float="centering", column_format=_spec([str(c) for c in table.columns]))
    return body.replace("\\centering\n", f"\\centering\n{_SIZE}\n", 1).replace("–", "--") + "\n"


def _grouped(table: pd.DataFrame, caption: str, label: str) -> str:
    columns = [str(c) for c in table.columns]
    head = " & ".join(latex_escape(c) for c in columns) + r" \\"
    long = len(table) > LONG_ROWS
    if long:
        lines = ["{" + _SIZE, rf"\begin{{longtable}}{{{_spec(columns)}}}", rf"\caption{{{latex_escape(caption)}}}\label{{{label}}} \\",
                  r"\toprule", head, r"\midrule", r"\endfirsthead",
                  rf"\multicolumn{{{len(columns)}}}{{l}}{{\emph{{(continued)}}}} \\", r"\toprule", head, r"\midrule",
                  r"\endhead", r"\bottomrule", r"\endlastfoot"]
    else:
        lines = [r"\begin{table}[tbp]", r"\centering", _SIZE, rf"\caption{{{latex_escape(caption)}}}", rf"\label{{{label}}}",
                  rf"\begin{{tabular}}{{{_spec(columns)}}}", r"\toprule", head, r"\midrule"]
    previous = None
    for row in table.itertuples(index=False):
        cells = [str(v) for v in row]
        if GROUP in columns:
            at = columns.index(GROUP)
            if previous is not None and cells[at] != previous:
                lines.append(r"\midrule")
            shown = cells[at] != previous
            previous = cells[at]
            cells[at] = cells[at] if shown else ""
        lines.append(" & ".join(latex_cell(c) for c in cells) + r" \\")
    lines += [r"\end{longtable}", "}"] if long else [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"
