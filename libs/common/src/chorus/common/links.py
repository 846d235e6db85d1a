"""Tracked links: a share's short code, and where it sends a click (the campaign's URL with
its UTM parameters).

    code = link_code(key, share_id)              # "4fK9qZ0bLm2X", the same every time
    target = tracked_url(url, utm, network="x", title="We shipped", colleague="emp-1042")

The code is an HMAC of the share's id, so every attempt and every publisher replica renders
the same link without reading it back (a retry's look-up finds the post by it), and nobody
without the key can list other shares' links. Twelve base62 characters are 71 bits: among a
hundred million shares the chance that two share a code is about 1 in 500,000, and the
publisher stores a code only if it is free (see chorus.publisher.links).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import string
import unicodedata
import uuid
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "CODE_LENGTH",
    "PLACEHOLDERS",
    "UTM_DEFAULTS",
    "link_code",
    "slug",
    "template_problems",
    "tracked_url",
]

CODE_LENGTH = 12
CODE_PATTERN = re.compile(r"^[0-9A-Za-z]{1,16}$")
_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
PLACEHOLDERS = ("network", "campaign", "colleague")
UTM_DEFAULTS: Mapping[str, str] = {
    "source": "{network}",
    "medium": "social",
    "campaign": "{campaign}",
    "content": "{colleague}",
}


def link_code(key: bytes, share_id: uuid.UUID) -> str:
    digest = int.from_bytes(hmac.new(key, share_id.bytes, hashlib.sha256).digest(), "big")
    chars = []
    for _ in range(CODE_LENGTH):
        digest, index = divmod(digest, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


def slug(text: str, *, max_length: int = 100) -> str:
    """ "Élan: 2027's launch!" -> "elan-2027s-launch" (ASCII, lower case, hyphens)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower().replace("'", "")).strip("-")
    return words[:max_length].rstrip("-")


def template_problems(template: str) -> list[str]:
    """What is wrong with one UTM template: unknown placeholders, stray braces, formats."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return [f"{template!r}: {exc} (write a literal brace as {{{{ or }}}})"]
    problems = []
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in PLACEHOLDERS:
            known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            problems.append(f"{template!r}: unknown placeholder {{{field}}}; known: {known}")
        elif spec or conversion:
            problems.append(f"{template!r}: placeholders take no format or conversion")
    return problems


def tracked_url(
    url: str,
    utm: Mapping[str, str] | None,
    *,
    network: str,
    campaign: str,
    colleague: str,
) -> str:
    """`url` with utm_source, utm_medium, utm_campaign and utm_content from the templates
    (the defaults for any not given); its other query parameters and fragment are kept, and a
    parameter whose template renders empty is left out. `campaign` is the title's slug."""
    values = {"network": network, "campaign": campaign, "colleague": colleague}
    templates = {**UTM_DEFAULTS, **(utm or {})}
    ours = {f"utm_{name}": template.format(**values) for name, template in templates.items()}
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ours]
    query = urlencode(kept + [(k, v) for k, v in ours.items() if v])
    return urlunsplit(parts._replace(query=query))
