"""When a campaign may go out and to whom: its window and its audience, as the API takes and
shows them (`CampaignIn.window`, `CampaignIn.audience`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from chorus.common.text import SafeLine

__all__ = [
    "MAX_AUDIENCE_COLLEAGUES",
    "MAX_AUDIENCE_GROUPS",
    "MAX_WINDOW",
    "Audience",
    "AudienceColleagues",
    "AudienceGroups",
    "CampaignWindow",
    "WindowChoice",
    "WindowOut",
    "audience_column",
    "audience_out",
    "window_out",
]

MAX_WINDOW = timedelta(days=30)
MAX_LEAD = timedelta(days=366)
MAX_AUDIENCE_GROUPS = 100
# Past this the request outgrows the body limit (512 KiB of 200-character ids): a 413, not a
# 422 naming the field.
MAX_AUDIENCE_COLLEAGUES = 1000


_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


def _rfc3339(value: object) -> object:
    # What the document's `date-time` promises, and only that: pydantic would also take
    # seconds since 1970 or a space for the T.
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("an RFC 3339 date and time with its offset, e.g. 2026-12-01T09:30:00Z")
    return value


Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CampaignWindow(_In):
    """Shares go out between `starts_at` and `ends_at` (ISO 8601 with an offset), spread over
    each colleague's open hours; a share with no room left in it is skipped with the reason,
    never posted late. A start in the past means from now."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"starts_at": "2026-12-01T08:00:00Z", "ends_at": "2026-12-03T18:00:00Z"}]
        }
    )

    starts_at: Rfc3339
    ends_at: Rfc3339

    @model_validator(mode="after")
    def _bounded(self) -> CampaignWindow:
        try:
            problem = _problem(self.starts_at.astimezone(UTC), self.ends_at.astimezone(UTC))
        except OverflowError:  # at the calendar's ends (year 1, year 9999) with an offset
            problem = "the window is out of range"
        if problem:
            raise ValueError(problem)
        return self


def _problem(start: datetime, end: datetime) -> str | None:
    now = datetime.now(UTC)
    if end <= start:
        return "the window must end after it starts"
    if end <= now:
        return "the window must end in the future"
    if end - start > MAX_WINDOW:
        return f"the window may last at most {MAX_WINDOW.days} days"
    if start > now + MAX_LEAD:
        return f"the window may start at most {MAX_LEAD.days} days ahead"
    return None


GroupName = Annotated[SafeLine, Field(min_length=1, max_length=100)]
ExternalId = Annotated[SafeLine, Field(min_length=1, max_length=200)]


class AudienceGroups(_In):
    """Active colleagues in at least one of these groups."""

    groups: list[GroupName] = Field(min_length=1, max_length=MAX_AUDIENCE_GROUPS)

    @field_validator("groups")
    @classmethod
    def _as_set(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class AudienceColleagues(_In):
    """These colleagues (the CMS's external ids), those of them active."""

    colleagues: list[ExternalId] = Field(min_length=1, max_length=MAX_AUDIENCE_COLLEAGUES)

    @field_validator("colleagues")
    @classmethod
    def _as_set(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class WindowOut(BaseModel):
    starts_at: datetime
    ends_at: datetime


WindowChoice = CampaignWindow | Literal["now"]
Audience = Literal["everyone"] | AudienceGroups | AudienceColleagues


def audience_column(audience: Audience) -> dict[str, list[str]] | None:
    """As `campaigns.audience` stores it: NULL for everyone."""
    return None if isinstance(audience, str) else audience.model_dump()


def window_out(starts_at: datetime, ends_at: datetime | None) -> WindowOut | Literal["now"]:
    return "now" if ends_at is None else WindowOut(starts_at=starts_at, ends_at=ends_at)


def audience_out(stored: dict[str, list[str]] | None) -> Audience:
    if not stored:
        return "everyone"
    if "groups" in stored:
        return AudienceGroups(groups=stored["groups"])
    return AudienceColleagues(colleagues=stored["colleagues"])
