"""`docker compose up`'s one-shot `seed` service: what `make run` seeds. A demo organisation,
colleagues with a Mastodon account each at the simulator (connected by token, as
`chorus.devstack.seeding` does for the benchmarks), then the API key and a `curl` to try.

The simulator's accounts live at the address the seed reached it by (`http://netsim:8090`),
which is the compose service name the publishers reach too. Every run makes a new
organisation, under a new prefix: the simulator may have kept the last run's accounts."""

from __future__ import annotations

import asyncio
import secrets

from pydantic import Field

from chorus.common.settings import CredentialSettings
from chorus.devstack.__main__ import create_campaign_curl
from chorus.devstack.seeding import seed
from chorus.gateway.admin import create_organisation


class SeedSettings(CredentialSettings):
    seed_sim_url: str = Field(default="http://netsim:8090", description="As containers see it.")
    seed_gateway_url: str = Field(
        default="http://localhost:8000", description="As the person reading the banner sees it."
    )
    seed_colleagues: int = Field(default=5, ge=1, le=10_000)


async def main(settings: SeedSettings) -> None:
    # As `make run`'s demo: a first campaign "now" goes out at once, not over the next 24 h.
    org_id, key = await create_organisation(
        settings=settings, name="Demo organisation", spread_now=False
    )
    await seed(
        database_url=settings.database_url,
        sim_url=settings.seed_sim_url,
        credentials_key=settings.credentials_key.get_secret_value(),
        org_id=org_id,
        count=settings.seed_colleagues,
        prefix=f"demo{secrets.token_hex(3)}",
        followers=250,
    )
    gateway = settings.seed_gateway_url
    print(
        f"""
Chorus is running: {settings.seed_colleagues} demo colleagues, each with a Mastodon account at
the simulator ({settings.seed_sim_url} inside compose, http://localhost:8090 outside).

API key: {key}

Create a campaign:
{create_campaign_curl(gateway_url=gateway, api_key=key, networks=("mastodon",))}

Then follow it (use the "id" it returned):
  curl -s {gateway}/v1/campaigns/<id> -H 'Authorization: Bearer {key}'
""",
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main(SeedSettings()))
