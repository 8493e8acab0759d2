"""Relative-preference judges."""
