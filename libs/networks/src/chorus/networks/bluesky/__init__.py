"""Bluesky (AT Protocol, on the colleague's PDS): one record per share under a record key fixed
before it was staged and written with `putRecord` (a second write is the same post), link
facets in UTF-8 bytes and a card we build, sessions from app passwords."""

from datetime import timedelta

from chorus.common.kinds import Network
from chorus.networks.base import Idempotency, NetworkSpec, ReadbackScope
from chorus.networks.bluesky.client import BATCH_SIZE, BlueskyClient
from chorus.networks.bluesky.connect import sign_in
from chorus.networks.bluesky.reads import READ_BUDGET
from chorus.networks.bluesky.text import measure, problems, render
from chorus.networks.bluesky.tid import record_key

__all__ = ["SPEC", "BlueskyClient", "sign_in"]

SPEC = NetworkSpec(
    network=Network.BLUESKY,
    label="Bluesky",
    idempotency=Idempotency.RECORD_KEY,
    idempotency_window=None,
    # Writing the same record key again cannot make a second post: no wait is needed, but a
    # short one spares the PDS a write racing the first.
    settle_after_ambiguous=timedelta(seconds=5),
    # Counts come from the public AppView: any session of the organisation on the same PDS.
    readback_scope=ReadbackScope.SERVER,
    read_budget=READ_BUDGET,
    readback_batch=BATCH_SIZE,
    reports=frozenset({"reshares", "likes", "replies", "followers"}),
    render=render,
    problems=problems,
    measure=measure,
    client=BlueskyClient,
    password_sign_in=sign_in,
    api_url="https://bsky.social",
    max_images=4,
    # The lexicon's limit per image (the PDS takes 5 MB uploads, the post only 1 MB blobs).
    max_image_bytes=1_000_000,
    record_key=record_key,
)
