"""Request bodies as the networks accept them: JSON, url-encoded forms and multipart uploads.

The image ships without python-multipart, so multipart goes through the standard library's MIME
parser; the simulator only needs field names, file names, types and bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request

__all__ = ["Upload", "listed", "read_body"]


@dataclass
class Upload:
    filename: str | None
    content_type: str
    data: bytes


async def read_body(request: Request) -> dict[str, Any]:
    """The body as a dict; keys sent more than once, or ending in `[]`, keep every value (as a
    list under the name without `[]`). Anything unreadable is an empty body."""
    raw = await request.body()
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        try:
            value = json.loads(raw or b"{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    if ctype.startswith("multipart/form-data"):
        pairs = _multipart(ctype, raw)
    else:
        pairs = [
            (k, v)
            for k, vs in parse_qs(raw.decode(errors="replace"), keep_blank_values=True).items()
            for v in vs
        ]
    return _fold(pairs)


def listed(body: dict[str, Any], name: str) -> list[Any]:
    """`media_ids[]=1&media_ids[]=2`, `{"media_ids": [1, 2]}` and `media_ids=1` alike."""
    value = body.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _fold(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key.endswith("[]"):
            out.setdefault(key[:-2], []).append(value)
        elif key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out


def _multipart(ctype: str, raw: bytes) -> list[tuple[str, Any]]:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + raw
    )
    if not message.is_multipart():
        return []
    pairs: list[tuple[str, Any]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None and part.get_content_type() == "text/plain":
            pairs.append((name, data.decode(errors="replace")))
        else:
            pairs.append((name, Upload(filename, part.get_content_type(), data)))
    return pairs
