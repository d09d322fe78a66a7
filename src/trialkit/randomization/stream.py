"""Seeded random draws that reproduce exactly on any platform and library version.

An allocation list must be regenerable years later from its seed (for an audit or an
inspection), so draws do not depend on numpy's or Python's generator, whose streams may change
between releases. Each stream is SHA-256 in counter mode over ``"<seed>:<label>:<counter>"``;
the label separates independent purposes (one stratum's blocks, its kit numbers, one
minimization assignment) so that adding a stratum never changes another stratum's list.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableSequence
from typing import TypeVar

T = TypeVar("T")

_TWO_64 = 1 << 64


class SeededStream:
    """Uniform random integers and floats derived from (seed, label) alone."""

    def __init__(self, seed: int | str, label: str):
        self._prefix = f"{seed}:{label}:".encode()
        self._counter = 0
        self._buffer: list[int] = []

    def bits64(self) -> int:
        """The next uniform integer in [0, 2**64)."""
        if not self._buffer:
            digest = hashlib.sha256(self._prefix + str(self._counter).encode()).digest()
            self._counter += 1
            # One digest yields four 64-bit words; used last-first via pop().
            self._buffer = [int.from_bytes(digest[i : i + 8], "big") for i in (24, 16, 8, 0)]
        return self._buffer.pop()

    def below(self, k: int) -> int:
        """A uniform integer in [0, k), without modulo bias (rejection of the top remainder)."""
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        limit = _TWO_64 - (_TWO_64 % k)
        while True:
            x = self.bits64()
            if x < limit:
                return x % k

    def uniform(self) -> float:
        """A uniform float in [0, 1) with 53 random bits."""
        return (self.bits64() >> 11) * (1.0 / (1 << 53))

    def choice(self, items: list[T]) -> T:
        return items[self.below(len(items))]

    def shuffle(self, items: MutableSequence[T]) -> None:
        """Fisher–Yates (Durstenfeld) shuffle in place: every permutation equally likely."""
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]
