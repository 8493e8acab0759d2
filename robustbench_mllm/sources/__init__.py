"""Data-set readers (sample suite, local LLaVA/POPE files, Hub ids)."""

from robustbench_mllm.records import SourceInfo
from robustbench_mllm.sources.base import Source, register_source, source_registry

__all__ = ["Source", "SourceInfo", "register_source", "source_registry"]
