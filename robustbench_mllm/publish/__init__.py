"""Publishing generated suites: the Hub dataset repo with its card, and lmms-eval task files."""
