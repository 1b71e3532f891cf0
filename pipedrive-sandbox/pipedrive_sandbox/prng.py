"""Deterministic randomness: vectorised hashes for whole columns, seeded generators per record.

Every generated value is a pure function of (seed, kind, id, salt), so a record can be rebuilt at
any time without storing it, and the same seed always yields the same dataset.
"""

from __future__ import annotations

import hashlib
import random
import zlib

import numpy as np

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _salt_code(salt: str) -> int:
    return zlib.crc32(salt.encode())


def _splitmix(values: np.ndarray) -> np.ndarray:
    x = values + np.uint64(_GOLDEN)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uniform(seed: int, kind: str, salt: str, ids: np.ndarray) -> np.ndarray:
    """Uniform floats in [0, 1), one per id, independent across (seed, kind, salt)."""
    base = (seed * 0x100000001B3 + _salt_code(kind) * 0x10001 + _salt_code(salt)) & _MASK64
    mixed = _splitmix(_splitmix(ids.astype(np.uint64) ^ np.uint64(base)))
    return (mixed >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def record_rng(seed: int, kind: str, record_id: int, salt: str = "") -> random.Random:
    """A ``random.Random`` seeded from (seed, kind, id, salt): the per-record value generator."""
    return random.Random((seed << 96) ^ (_salt_code(kind + salt) << 64) ^ record_id)  # noqa: S311


def mix(seed: int, *parts: object) -> int:
    """A stable 64-bit hash of (seed, parts): cheap randomness for a single draw."""
    text = ":".join(str(p) for p in (seed, *parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def hex_key(seed: int, *parts: object) -> str:
    """A stable 40-character hex string (the shape of Pipedrive's custom-field keys)."""
    text = ":".join(str(p) for p in (seed, *parts)).encode()
    return hashlib.sha1(text, usedforsecurity=False).hexdigest()
