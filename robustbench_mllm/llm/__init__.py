"""Shared OpenAI-compatible chat plumbing (translation, the openai adapter and the judge use it)."""
