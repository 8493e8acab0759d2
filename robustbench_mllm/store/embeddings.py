"""``RUN/embeddings/``: encoder outputs keyed by content, so a rerun embeds nothing twice.

``<embeddings>/<model fingerprint>-<pooling>/shard-*.safetensors``: one shard per batch of new
vectors, written atomically; a shard's name is the hash of its keys.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from robustbench_mllm.io_utils import atomic_write_bytes


class EmbeddingCache:
    """Content-keyed vectors of one (encoder, pooling) pair in safetensors shards."""

    def __init__(self, folder: Path) -> None:
        from safetensors.numpy import load_file

        self.folder = Path(folder)
        self._vectors: dict[str, np.ndarray] = {}
        for shard in sorted(self.folder.glob("shard-*.safetensors")):
            self._vectors.update(load_file(str(shard)))

    def get(self, key: str) -> np.ndarray | None:
        return self._vectors.get(key)

    def put(self, vectors: dict[str, np.ndarray]) -> None:
        """Store a new shard atomically (a crash leaves the cache as it was)."""
        from safetensors.numpy import save

        if not vectors:
            return
        name = hashlib.sha256("".join(sorted(vectors)).encode()).hexdigest()[:20]
        atomic_write_bytes(self.folder / f"shard-{name}.safetensors",
                           save({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in vectors.items()}))
        self._vectors.update(vectors)
