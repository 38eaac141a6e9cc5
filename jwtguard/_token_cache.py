"""The verified-token cache: tokens that passed every check, by their exact text, bounded in entries and bytes."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

import cachetools

__all__ = ["TokenCache", "entry_size"]

_V = TypeVar("_V")

# What one entry holds besides the token text: the parsed claims, the principal, the cache's own links.
# Measured with tracemalloc on typical access tokens: about 1.75 bytes per token byte plus 1.4 KiB.
_ENTRY_OVERHEAD = 1536


def entry_size(token: str) -> int:
    """The memory one cached token costs, estimated from its length (a little above what is measured)."""
    return 2 * len(token) + _ENTRY_OVERHEAD


class TokenCache(Generic[_V]):
    """Least-recently-used entries keyed by the token itself, at most `max_entries` and about `max_bytes`.

    Keyed by the token, never by the header it came in, so one token is one entry however it is spelled;
    bounded in bytes as well as entries, so a client with large tokens cannot hold hundreds of MiB. LRU
    order keeps the tokens of active clients; a burst of new tokens evicts the least recently used ones.
    Thread-safe: cachetools caches are not, so every access takes the lock.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self._entries: cachetools.LRUCache[str, tuple[_V, int]] = cachetools.LRUCache(
            maxsize=max_bytes, getsizeof=_size_of
        )
        self._lock = threading.Lock()

    def get(self, token: str) -> _V | None:
        with self._lock:
            entry = self._entries.get(token)
        return None if entry is None else entry[0]

    def put(self, token: str, value: _V) -> None:
        size = entry_size(token)
        if size > self._entries.maxsize:
            return  # larger than the whole cache: not kept
        with self._lock:
            entries = self._entries
            if token not in entries:
                while len(entries) >= self.max_entries:
                    entries.popitem()  # the least recently used
            entries[token] = (value, size)

    def drop(self, token: str) -> None:
        with self._lock:
            self._entries.pop(token, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def size(self) -> int:
        """The estimated bytes held now."""
        with self._lock:
            return int(self._entries.currsize)


def _size_of(entry: tuple[object, int]) -> int:
    return entry[1]
