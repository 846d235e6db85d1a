"""A campaign's per-network variants, and its preview: each network's text as that network
will show it, measured the network's way (`chorus.gateway.previews` builds it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chorus.common.kinds import Network
from chorus.common.text import SafeText

__all__ = ["PREVIEW_EXAMPLE", "TOO_LONG_EXAMPLE", "CampaignPreview", "NetworkPreview", "VariantIn"]


class VariantIn(BaseModel):
    """What one network gets instead of the campaign's own text."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"message": "Out now: what it means for you."}]},
    )

    message: SafeText = Field(
        min_length=1,
        max_length=10_000,
        description="Posted on this network instead of the campaign's `message`.",
    )


class NetworkPreview(BaseModel):
    text: str = Field(description="The post's text as the network will show it.")
    length: int = Field(description="Its length, counted the way the network counts it.")
    limit: int = Field(description="The most the network takes, counted the same way.")
    counted: str = Field(
        description="What was counted: `weighted characters` (X: links 23, CJK and emoji 2), "
        "`graphemes` (Bluesky), `characters` (Mastodon: links 23; LinkedIn; Facebook)."
    )
    note: str | None = Field(
        default=None,
        description="Where the limit is only what is known before a colleague's account is "
        "(Mastodon: each instance has its own, so 500, the default, is used).",
    )


PREVIEW_EXAMPLE: dict[str, Any] = {
    "x": {
        "text": "Out now: what it means for you.\n\nhttps://example.com/launch",
        "length": 56,
        "limit": 280,
        "counted": "weighted characters",
        "note": None,
    },
    "mastodon": {
        "text": "Our new release is out: what it means for you.\n\nhttps://example.com/launch",
        "length": 71,
        "limit": 500,
        "counted": "characters",
        "note": "500 is Mastodon's default: each colleague's instance says its own limit "
        "(/api/v2/instance) only when it is posted to, so a campaign is held to the lowest "
        "one known",
    },
}


class CampaignPreview(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"preview": PREVIEW_EXAMPLE}]})

    preview: dict[Network, NetworkPreview] = Field(
        description="Each of the campaign's networks, with its variant where it has one."
    )


TOO_LONG_EXAMPLE: dict[str, Any] = {
    "type": "about:blank",
    "title": "Unprocessable content",
    "status": 422,
    "detail": "The campaign cannot be posted on every network it is meant for.",
    "errors": [
        {
            "location": ["body", "variants", "x", "message"],
            "message": "x: the post weighs 301 (links count as 23, CJK characters and emoji "
            "as 2); the limit is 280",
            "network": "x",
            "field": "variants.x.message",
            "counted": "weighted characters",
            "length": 301,
            "limit": 280,
        },
        {
            "location": ["body", "message"],
            "message": "bluesky: the post is 312 characters; the limit is 300",
            "network": "bluesky",
            "field": "message",
            "counted": "graphemes",
            "length": 312,
            "limit": 300,
        },
    ],
}
