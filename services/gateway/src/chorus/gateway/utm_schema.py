"""A campaign's UTM template: how its tracked links tag the campaign's URL for the CMS's
analytics."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chorus.common.links import UTM_DEFAULTS, template_problems
from chorus.common.text import SafeLine

__all__ = ["UtmIn"]

_PLACEHOLDERS = (
    "Placeholders: {network} (x, linkedin...), {campaign} (a slug of the title), {colleague} "
    "(the colleague's external id, or Chorus's opaque id: see `colleague`)."
)


def _template(default: str, what: str) -> Any:
    return Field(
        default=default,
        max_length=200,
        description=f"utm_{what}, default {default!r}. {_PLACEHOLDERS} Empty: left out.",
    )


class UtmIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {"campaign": "spring-launch", "content": "{colleague}", "colleague": "opaque"}
            ]
        },
    )

    source: SafeLine = _template(UTM_DEFAULTS["source"], "source")
    medium: SafeLine = _template(UTM_DEFAULTS["medium"], "medium")
    campaign: SafeLine = _template(UTM_DEFAULTS["campaign"], "campaign")
    content: SafeLine = _template(UTM_DEFAULTS["content"], "content")
    colleague: Literal["external_id", "opaque"] = Field(
        default="external_id",
        description="What {colleague} becomes: the CMS's external id, or an opaque id of "
        "Chorus's that tells the analytics tool nothing about who the colleague is.",
    )

    @field_validator("source", "medium", "campaign", "content")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        problems = template_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value
