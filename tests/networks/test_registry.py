"""Networks are folders: the registry finds every subpackage of chorus.networks that exports a
spec, and nothing else names them."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import chorus.networks
from chorus.common.kinds import Network
from chorus.networks import publishable, spec_for, specs


@pytest.fixture
def clean_registry() -> Iterator[None]:
    specs.cache_clear()
    yield
    specs.cache_clear()


def test_each_folder_declares_its_own_network() -> None:
    for network, spec in specs().items():
        assert spec.network is network
        assert spec.readback_batch >= 1
        assert spec.reports <= {"reshares", "likes", "replies", "impressions", "followers"}
    assert Network.MASTODON in publishable()


def test_adding_a_network_is_adding_a_folder(tmp_path: Path, clean_registry: None) -> None:
    folder = tmp_path / "chorus" / "networks" / "examplenet"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(
        textwrap.dedent(
            """
            from dataclasses import replace

            from chorus.common.kinds import Network
            from chorus.networks.mastodon import SPEC as MASTODON

            SPEC = replace(MASTODON, network=Network.LINKEDIN, label="Example")
            """
        )
    )
    assert spec_for(Network.LINKEDIN).label == "LinkedIn"
    # The package seen with only the new folder in it: the registry finds it by itself.
    real = list(chorus.networks.__path__)
    chorus.networks.__path__[:] = [str(tmp_path / "chorus" / "networks")]
    try:
        specs.cache_clear()
        assert spec_for(Network.LINKEDIN).label == "Example"
        assert publishable() == {Network.LINKEDIN}
    finally:
        chorus.networks.__path__[:] = real
        sys.modules.pop("chorus.networks.examplenet", None)
    specs.cache_clear()
    assert publishable() == set(Network)
