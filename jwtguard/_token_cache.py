"""The verified-token cache: tokens that passed every check, by their exact text, bounded in entries and bytes."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Generic, TypeVar

__all__ = ["KEY_CHARS", "Slot", "TokenCache", "entry_size"]

_V = TypeVar("_V")

# What one entry holds besides the token text: the parsed claims, the principal, the cache's own slot.
# Measured with tracemalloc on typical access tokens: about 1.75 bytes per token byte plus 1.4 KiB, and the
# slot's `header` and `header_bytes` add two more.
_ENTRY_OVERHEAD = 1536
#: The cache is keyed by a token's last characters: 43 of them carry 256 bits of its signature, which no
#: two tokens share by chance. Hashing them costs a fraction of hashing a whole token (hundreds of bytes),
#: and a hit still compares the whole token (`Slot.token`), so a key is never mistaken for a token.
KEY_CHARS = 43


def entry_size(token: str) -> int:
    """The memory one cached token costs, estimated from its length (a little above what is measured, with
    the slot's two copies of the header)."""
    return 4 * len(token) + _ENTRY_OVERHEAD


class Slot(Generic[_V]):
    """One entry: the token, its value, its estimated size, and whether it was read since eviction last
    looked at it; and the `Authorization` value that carries the token as most clients send it
    (`Bearer <token>`), as text and as bytes, so that the adapters' hot path recognises a header with one
    comparison and an ASGI header without decoding it; None for a token that hot path must not serve."""

    __slots__ = ("header", "header_bytes", "referenced", "size", "token", "value")

    header: str | None
    header_bytes: bytes | None

    def __init__(self, token: str, value: _V, size: int, fast: bool = True) -> None:
        self.token = token
        self.value = value
        self.size = size
        self.referenced = False
        if fast:
            self.header = "Bearer " + token
            self.header_bytes = self.header.encode("ascii", "replace")  # a parsed token is ASCII
        else:  # no header equals None: the hot path misses, and the guard's full path decides
            self.header = self.header_bytes = None


class TokenCache(Generic[_V]):
    """Entries for verified tokens, at most `max_entries` and about `max_bytes`.

    Keyed by the token's last `KEY_CHARS` characters and checked against the whole token, never by the
    header it came in, so one token is one entry however it is spelled;
    bounded in bytes as well as entries, so a client with large tokens cannot hold hundreds of MiB.

    A plain dict rather than a cachetools cache, because this is the hit path of every repeated request
    and an LRU cache writes (reorders) on every read, which needs a lock: here a read is one dict lookup
    and one attribute store, and takes no lock. Eviction is second-chance FIFO (CLOCK): the oldest entry
    goes first unless it was read since it was last looked at, in which case it moves to the back. Hot
    tokens stay, as with LRU; a burst of new tokens evicts tokens nobody is using. Writes take the lock.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._slots: dict[str, Slot[_V]] = {}
        #: The slots by `token[-KEY_CHARS:]`, for the guard's hot path to read without a method call: a
        #: reader compares `Slot.token` with its token and sets `referenced` on the slot it uses. Only
        #: `put`, `drop` and eviction change the mapping.
        self.entries: Mapping[str, Slot[_V]] = self._slots
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, token: str) -> _V | None:
        slot = self._slots.get(token[-KEY_CHARS:])  # atomic under the GIL; a slot changes only `referenced`
        if slot is None or slot.token != token:
            return None
        slot.referenced = True
        return slot.value

    def put(self, token: str, value: _V, *, fast: bool = True) -> None:
        """Keep `value` for `token`; `fast=False` keeps it from the adapters' hot path (a certificate-bound token,
        whose request must be looked at on every hit)."""
        size = entry_size(token)
        if size > self.max_bytes:
            return  # larger than the whole cache: not kept
        key = token[-KEY_CHARS:]
        with self._lock:
            slots = self._slots
            old = slots.pop(key, None)  # this token's entry, or (never by chance) another's with its key
            if old is not None:
                self._bytes -= old.size
            while slots and (len(slots) >= self.max_entries or self._bytes + size > self.max_bytes):
                self._evict_one()
            slots[key] = Slot(token, value, size, fast)
            self._bytes += size

    def drop(self, token: str) -> None:
        key = token[-KEY_CHARS:]
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None and slot.token == token:
                del self._slots[key]
                self._bytes -= slot.size

    def _evict_one(self) -> None:
        # Called with the lock held. Each referenced entry met on the way gets one second chance.
        slots = self._slots
        for _ in range(len(slots)):
            token = next(iter(slots))
            slot = slots.pop(token)
            if not slot.referenced:
                self._bytes -= slot.size
                return
            slot.referenced = False
            slots[token] = slot  # to the back
        token = next(iter(slots))  # every entry was referenced: the oldest goes
        self._bytes -= slots.pop(token).size

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def size(self) -> int:
        """The estimated bytes held now."""
        return self._bytes
