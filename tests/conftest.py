"""Shared fixtures. Heavy fixtures (tiny models) live in tests/fixtures/ and build lazily."""

from __future__ import annotations

import os

# Nothing in the test suite may reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
