"""HTTP Basic client authentication, as confidential OAuth clients send it."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from fastapi import Request

__all__ = ["basic_client"]


def basic_client(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote(client_id), unquote(secret)) if sep else None
