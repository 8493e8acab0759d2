"""Metrics: POPE/closed-form accuracy, relative preference, EMID, representation JSD."""
