"""Textual perturbations: character and word edits and sentence translation (paper Table 9).

Importing this package registers char_typo, char_delete, char_insert, word_swap, word_delete,
word_insert, translate_arabic, translate_greek and translate_hindi.
"""

from robustbench_mllm.perturbations.text import char_level, translation, word_level  # noqa: F401 (registers)
