"""A campaign rendered for each of its networks with that network's own renderer
(`chorus.networks`), measured the network's way: the preview a CMS editor sees as the author
types, and the check that refuses, when the campaign is created, what a network would refuse
hours later. Nothing here needs an account; where a limit depends on one (a Mastodon
instance's own), the lowest known default is used and the preview says so.

    previews = preview_campaign(body)  # or Problem(422) naming each network and why
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chorus.common.kinds import Network
from chorus.gateway.preview_schemas import NetworkPreview
from chorus.gateway.problems import Problem
from chorus.gateway.schemas import CampaignIn
from chorus.networks import Content, Image, spec_for

__all__ = ["CampaignContent", "preview_campaign", "previews"]


@dataclass(frozen=True, slots=True)
class CampaignContent:
    """What a campaign says on its networks, from a request or from its stored row."""

    title: str
    url: str
    message: str
    description: str
    images: tuple[Image, ...]
    networks: Sequence[Network]
    # network -> the text it gets instead of `message`
    variants: Mapping[Network, str]

    @classmethod
    def of(cls, body: CampaignIn) -> CampaignContent:
        return cls(
            title=body.title,
            url=str(body.url),
            message=body.message,
            description=body.description,
            images=tuple(Image(url=str(i.url), alt=i.alt) for i in body.images),
            networks=body.networks,
            variants={n: v.message for n, v in body.variants.items()},
        )

    def for_network(self, network: Network) -> Content:
        return Content(
            message=self.variants.get(network, self.message),
            url=self.url,
            title=self.title,
            description=self.description,
            images=self.images,
        )


def previews(
    content: CampaignContent,
) -> tuple[dict[Network, NetworkPreview], list[dict[str, Any]]]:
    """Each network's preview, and every limit the campaign breaks (empty: it fits)."""
    shown: dict[Network, NetworkPreview] = {}
    errors: list[dict[str, Any]] = []
    for network in content.networks:
        spec = spec_for(network)
        post = spec.render(content.for_network(network))
        measures = spec.measure(post)
        first = measures[0]
        shown[network] = NetworkPreview(
            text=post.text,
            length=first.length,
            limit=first.limit,
            counted=first.counted,
            note=first.note or None,
        )
        field = (
            ["variants", network.value, "message"] if network in content.variants else ["message"]
        )
        errors += [
            {
                "location": ["body", *field],
                "message": m.sentence,
                "network": network.value,
                "field": ".".join(field),
                "counted": m.counted,
                "length": m.length,
                "limit": m.limit,
            }
            for m in measures
            if not m.fits
        ]
        if len(content.images) > spec.max_images:
            errors.append(
                {
                    "location": ["body", "images"],
                    "message": f"{network.value}: at most {spec.max_images} images per post",
                    "network": network.value,
                    "field": "images",
                    "counted": "images",
                    "length": len(content.images),
                    "limit": spec.max_images,
                }
            )
    return shown, errors


def preview_campaign(body: CampaignIn) -> dict[Network, NetworkPreview]:
    """The campaign's preview on each of its networks; Problem(422) with every network it
    does not fit and why, so that nothing is written for it."""
    shown, errors = previews(CampaignContent.of(body))
    if errors:
        raise Problem(
            422,
            "The campaign cannot be posted on every network it is meant for.",
            errors=errors,
        )
    return shown
