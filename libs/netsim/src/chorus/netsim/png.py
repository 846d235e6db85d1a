"""Small valid PNGs for campaign images in tests: a solid square whose colour comes from the
name, so two names give two different files."""

from __future__ import annotations

import hashlib
import struct
import zlib

__all__ = ["solid_png"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def solid_png(name: str, size: int = 16) -> bytes:
    rgb = hashlib.sha256(name.encode()).digest()[:3]
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit truecolour
    rows = b"".join(b"\x00" + rgb * size for _ in range(size))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )
