"""What an open project states about itself."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_license_is_apache_2_and_every_package_says_so() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    pyprojects = [ROOT / "pyproject.toml", *ROOT.glob("libs/*/pyproject.toml")]
    pyprojects += ROOT.glob("services/*/pyproject.toml")
    for pyproject in pyprojects:
        assert tomllib.loads(pyproject.read_text())["project"]["license"] == "Apache-2.0", pyproject
