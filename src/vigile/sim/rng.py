"""Deterministic randomness: seeded generators per stream and counter-based hashing.

Everything random in the simulator comes from here, so the output depends on the seed
and on the coordinates of what is being generated (practice, day, stream), never on the
order in which things are generated.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S11, _S27, _S30, _S31 = np.uint64(11), np.uint64(27), np.uint64(30), np.uint64(31)

# Stream tags keep independent uses of the same coordinates apart.
STREAM_WORLD = 1
STREAM_TRAFFIC = 2
STREAM_SCHEDULE = 3
STREAM_ATTACK = 4
STREAM_BENIGN = 5
STREAM_NOTES = 6
STREAM_IDENTITY = 7
STREAM_PLAN = 8


def generator(seed: int, *coords: int) -> np.random.Generator:
    """Return a numpy Generator determined only by `seed` and the coordinates.

    Same stream as `np.random.default_rng(entropy)`, built directly (half the cost)."""
    entropy = [seed & 0xFFFFFFFF, seed >> 32, *[int(c) for c in coords]]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def mix(x: U64) -> U64:
    """SplitMix64 finaliser applied element-wise (wrapping uint64 arithmetic).

    Computed in place in one result and one scratch array (a third of the memory traffic
    of the plain expression, same values: tests/sim/test_fast_paths.py)."""
    z: U64 = np.add(x, _GOLDEN, dtype=np.uint64)
    tmp = np.empty_like(z)
    with np.errstate(over="ignore"):
        np.right_shift(z, _S30, out=tmp)
        z ^= tmp
        z *= _M1
        np.right_shift(z, _S27, out=tmp)
        z ^= tmp
        z *= _M2
        np.right_shift(z, _S31, out=tmp)
        z ^= tmp
    return z


def hash_u64(seed: int, field: int, keys: npt.ArrayLike) -> U64:
    """Hash integer keys to uniform uint64 values for a given seed and field tag."""
    k = np.asarray(keys)
    base = mix(np.array([(seed * 1_000_003 + field) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    z: U64 = k.astype(np.uint64)  # a copy even when k is already uint64
    z ^= base
    return mix(z)


def hash_unit(seed: int, field: int, keys: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Hash integer keys to floats uniform in [0, 1)."""
    h = hash_u64(seed, field, keys)
    h >>= _S11
    out = h.astype(np.float64)
    out *= 1.0 / (1 << 53)
    return out


def hash_int(seed: int, field: int, keys: npt.ArrayLike, n: int) -> npt.NDArray[np.int64]:
    """Hash integer keys to integers uniform in [0, n)."""
    return (hash_unit(seed, field, keys) * n).astype(np.int64)


def randint(g: np.random.Generator, lo: int, hi: int | None = None) -> int:
    """One integer uniform in [lo, hi) ([0, lo) when hi is None), from one float draw.

    The care model draws hundreds of thousands of small integer arrays: `g.integers`
    spends ~20 µs per call checking its arguments, a float draw scaled to the range ~4 µs.
    Not the values `g.integers` would give (a different use of the stream)."""
    if hi is None:
        lo, hi = 0, lo
    return lo + int(g.random() * (hi - lo))


def randints(g: np.random.Generator, lo: int, hi: int | None = None, *, size: int) -> I64:
    """`size` integers uniform in [lo, hi) ([0, lo) when hi is None): see `randint`."""
    if hi is None:
        lo, hi = 0, lo
    u = g.random(size)
    u *= hi - lo
    out: I64 = u.astype(np.int64)
    out += lo
    return out


def hash_hex(seed: int, field: int, key: int, width: int = 16) -> str:
    """A stable hexadecimal token for one key (used for session ids)."""
    v = int(hash_u64(seed, field, np.array([key], dtype=np.uint64))[0])
    return f"{v:016x}"[:width]
