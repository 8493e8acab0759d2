"""Long-running stages: generate, evaluate."""
