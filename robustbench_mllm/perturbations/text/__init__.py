"""Textual perturbations: character and word edits and sentence translation (paper Table 9).

Importing this package registers char_typo, char_delete, char_insert, word_swap, word_delete,
word_insert, translate_arabic, translate_greek and translate_hindi, and the vittle protocol's own
character (``nlpaug_char``) and word (``eda``) edits under the same six edit names.
"""

from robustbench_mllm.perturbations.text import (  # noqa: F401 (registers)
    char_level,
    eda,
    nlpaug_char,
    translation,
    word_level,
)
