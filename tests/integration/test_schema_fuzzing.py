"""schemathesis over the whole published OpenAPI document, against the real gateway on real
PostgreSQL and RabbitMQ: its examples, coverage, fuzzing and stateful phases. No server error,
every status the API answers is documented, every answer valid against the schema, and what
the schema refuses is refused."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chorus.devstack.stack import Stack

pytestmark = pytest.mark.integration

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[Stack, str]]:
    root = Path(tempfile.mkdtemp(prefix="chorus-fuzz-"))
    with Stack(root=root) as stack:
        stack.start_servers()
        stack.migrate()
        stack.start_service("gateway")
        key = stack.create_organisation("Fuzz")
        headers = {"Authorization": f"Bearer {key}"}
        for external_id in ("cms-1", "cms-2"):
            httpx.put(
                f"{stack.gateway_url}/v1/ambassadors/{external_id}",
                json={"display_name": external_id},
                headers=headers,
                timeout=10,
            ).raise_for_status()
        yield stack, key


def test_the_published_api_holds_to_its_own_contract(gateway: tuple[Stack, str]) -> None:
    stack, key = gateway
    result = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).parent / "tools" / "schemathesis_cli.py"),
            "run",
            f"{stack.gateway_url}/openapi.json",
            "--phases=examples,coverage,fuzzing,stateful",
            f"--checks={','.join(CHECKS)}",
            "--header",
            f"Authorization: Bearer {key}",
            "--max-examples=60",
            "--seed=20261124",
            "--generation-deterministic",
            "--workers=1",
            f"--report-dir={stack.root / 'schemathesis'}",
            "--no-color",
        ],
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        cwd=stack.root,  # schemathesis keeps a crash cache in its working folder
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert cases is not None and int(cases.group(1)) > 500, result.stdout[-3000:]
    print(f"schemathesis: {cases.group(1)} cases, {cases.group(2)} passed")
