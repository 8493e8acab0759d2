"""The SQLite-WAL response cache: canonical keys, persistence, several processes, kill -9."""

from __future__ import annotations

import multiprocessing
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from robustbench_mllm.llm.cache import CachedResponse, ResponseCache, cache_key


def test_key_is_canonical_and_sensitive() -> None:
    a = cache_key({"model": "m", "messages": [{"role": "user", "content": "x"}], "run": 0})
    b = cache_key({"run": 0, "messages": [{"content": "x", "role": "user"}], "model": "m"})
    assert a == b and len(a) == 64
    assert a != cache_key({"model": "m", "messages": [{"role": "user", "content": "x"}], "run": 1})


def test_put_get_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with ResponseCache(path) as cache:
        assert cache.get("k") is None
        cache.put("k", CachedResponse("gpt-4o", "8 7", 10, 2))
    with ResponseCache(path) as cache:
        assert cache.get("k") == CachedResponse("gpt-4o", "8 7", 10, 2)
        assert len(cache) == 1
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def _writer(path: str, prefix: str, count: int) -> None:
    with ResponseCache(Path(path)) as cache:
        for i in range(count):
            cache.put(f"{prefix}{i}", CachedResponse("m", f"text {prefix}{i}"))


def test_several_processes_write_one_cache(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, p, 40)) for p in "ab"]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    with ResponseCache(Path(path)) as cache:
        assert len(cache) == 80
        assert cache.get("b39") == CachedResponse("m", "text b39")


def test_kill_9_keeps_every_committed_put(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from robustbench_mllm.llm.cache import CachedResponse, ResponseCache\n"
        "cache = ResponseCache(Path(sys.argv[1]))\n"
        "for i in range(25):\n"
        "    cache.put(f'k{i}', CachedResponse('m', str(i)))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(path)], check=False)
    assert proc.returncode == -signal.SIGKILL
    with ResponseCache(path) as cache:
        assert len(cache) == 25
        assert cache.get("k24") == CachedResponse("m", "24")
