"""The command line: one module per command (``app.py`` registers them), the shared error,
console and option conventions in ``common.py``."""
