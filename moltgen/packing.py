"""zlib with an optional preset dictionary: what the check keeps of an object for later is
compressed against a similar object's bytes (the first of its kind), which shrinks the many
near-copies of a fleet to a fraction of what zlib alone leaves."""

from __future__ import annotations

import zlib


def compress(raw: bytes, dictionary: bytes | None = None) -> bytes:
    if dictionary is None:
        return zlib.compress(raw, 1)
    compressor = zlib.compressobj(1, zdict=dictionary)
    return compressor.compress(raw) + compressor.flush()


def decompress(blob: bytes, dictionary: bytes | None = None) -> bytes:
    if dictionary is None:
        return zlib.decompress(blob)
    decompressor = zlib.decompressobj(zdict=dictionary)
    return decompressor.decompress(blob) + decompressor.flush()
