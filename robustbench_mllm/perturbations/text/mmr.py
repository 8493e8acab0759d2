"""MM_Robustness's level scale for text edits, shared by the vittle protocol's character edits
(``nlpaug_char``) and word edits (``eda``).

MM_Robustness runs levels 1-7 with rate ``0.05 * level`` (nlpaug's ``aug_word_p``; EDA's alpha and
deletion probability). Our severities 1-5 are its levels 1-5: the scale stays the paper's, and
severity 5 (rate 0.25) is the strongest level the paper's "three degrees" plausibly used (which
levels Vittle took is not stated anywhere). Levels 6 and 7 are not reachable.
"""

from __future__ import annotations

LEVEL_STEP = 0.05


def mmr_level(severity: int) -> int:
    return severity


def mmr_rate(severity: int) -> float:
    """``0.05 * level`` computed as the reference computes it (no rounding: int() of the product
    decides the counts, so 0.15000000000000002 must stay what it is)."""
    return LEVEL_STEP * mmr_level(severity)
