"""Vittle trainer."""
