"""The OpenAPI document a CMS generates its client from: every POST takes Idempotency-Key,
every authenticated route documents 429 with Retry-After, every problem as problem+json, and
the API key routes with examples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from chorus.gateway.idempotency import IdempotentRoute
from tests.gateway.conftest import GatewayFactory

pytestmark = pytest.mark.integration

PROBLEM = {"$ref": "#/components/schemas/ProblemDetail"}
# POSTs without any effect (a body too large for a query string): nothing to make safe, so
# no Idempotency-Key; a stored answer would only be a write per request.
WITHOUT_EFFECT = {"/v1/campaigns:preview"}


@pytest.fixture
async def document(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.get("/openapi.json")
    assert response.status_code == 200
    openapi: dict[str, Any] = response.json()
    return openapi


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def _problem(operation: dict[str, Any], status: int) -> dict[str, Any]:
    response: dict[str, Any] = operation["responses"][str(status)]
    [(media_type, content)] = response["content"].items()
    assert (media_type, content["schema"]) == ("application/problem+json", PROBLEM)
    assert content["example"]["status"] == status
    return response


def _api_routes(routes: Sequence[BaseRoute]) -> list[APIRoute]:
    """Every route, those of included routers too (FastAPI keeps those behind a wrapper)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (router := getattr(route, "original_router", None)) is not None:
            found.extend(_api_routes(router.routes))
    return found


def test_every_post_route_is_idempotent(gateway_app: GatewayFactory) -> None:
    # The colleague's page takes its browser's forms (`/page/...`, outside the API): each is
    # idempotent by its effect (approving twice leaves one approval).
    posts = [
        r
        for r in _api_routes(gateway_app().routes)
        if "POST" in (r.methods or ()) and r.path.startswith("/v1/")
    ]
    assert len(posts) >= 6
    effects = [r for r in posts if r.path not in WITHOUT_EFFECT]
    assert all(isinstance(route, IdempotentRoute) for route in effects), effects
    assert {r.path for r in posts if not isinstance(r, IdempotentRoute)} == WITHOUT_EFFECT


def test_every_post_documents_the_idempotency_key(document: dict[str, Any]) -> None:
    posts = [(path, op) for method, path, op in _operations(document) if method == "POST"]
    assert {path for path, _ in posts} >= {
        "/v1/api-keys",
        "/v1/api-keys/{key_id}/rotate",
        "/v1/campaigns",
        "/v1/ambassadors/{external_id}/accounts",
        "/v1/ambassadors/{external_id}/connections",
    }
    for path, operation in posts:
        if path in WITHOUT_EFFECT:
            assert "Idempotency-Key" not in str(operation.get("parameters"))
            assert "Idempotency-Key" in operation["description"], path  # says why not
            continue
        headers = [p for p in operation["parameters"] if p["in"] == "header"]
        assert [p["name"] for p in headers] == ["Idempotency-Key"], path
        assert headers[0]["schema"]["maxLength"] == 255 and headers[0]["example"]
        for status in (400, 409, 422):
            assert "Idempotency-Key" in _problem(operation, status)["description"], path


def test_every_authenticated_route_documents_its_rate_limit(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        if operation.get("security") == []:
            continue  # the OAuth callback answers browsers, with pages
        assert operation["security"] == [{"ApiKey": []}], (method, path)
        for status in (401, 429, 500):
            _problem(operation, status)
        assert operation["responses"]["429"]["headers"]["Retry-After"]["required"] is True


def test_the_api_key_routes_are_documented_with_examples(document: dict[str, Any]) -> None:
    paths = document["paths"]
    schemas = document["components"]["schemas"]
    expected = {
        ("post", "/v1/api-keys"): {201, 400, 401, 409, 411, 413, 415, 422, 429, 500},
        ("get", "/v1/api-keys"): {200, 401, 429, 500},
        ("get", "/v1/api-keys/{key_id}"): {200, 401, 404, 422, 429, 500},
        ("post", "/v1/api-keys/{key_id}/rotate"): {
            201, 400, 401, 404, 409, 411, 413, 415, 422, 429, 500,
        },
        ("delete", "/v1/api-keys/{key_id}"): {204, 401, 404, 409, 422, 429, 500},
    }  # fmt: skip
    for (method, path), statuses in expected.items():
        operation = paths[path][method]
        assert {int(s) for s in operation["responses"]} == statuses, (method, path)
        for status in statuses - {200, 201, 204}:
            _problem(operation, status)
    for name in ("ApiKeyIn", "RotateIn", "ApiKeyOut", "ApiKeySecret", "RotatedApiKey"):
        assert schemas[name]["examples"], name
    assert schemas["ApiKeyStatus"]["enum"] == ["active", "expired", "revoked"]
    created = paths["/v1/api-keys"]["post"]["responses"]["201"]
    assert "Location" in created["headers"] and created["links"]


def test_the_campaign_content_is_documented_with_its_limits(document: dict[str, Any]) -> None:
    paths = document["paths"]
    schemas = document["components"]["schemas"]
    create = paths["/v1/campaigns"]["post"]
    preview = paths["/v1/campaigns:preview"]["post"]
    body = {"$ref": "#/components/schemas/CampaignIn"}
    for operation in (create, preview):
        assert operation["requestBody"]["content"]["application/json"]["schema"] == body
        refused = _problem(operation, 422)
        example = refused["content"]["application/problem+json"]["example"]
        assert {e["network"] for e in example["errors"]} == {"x", "bluesky"}
        assert all(e["length"] > e["limit"] for e in example["errors"])
        assert "Nothing is written" in refused["description"]
    assert {int(s) for s in preview["responses"]} == {200, 400, 401, 411, 413, 415, 422, 429, 500}
    ok = preview["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/CampaignPreview"}
    assert schemas["CampaignPreview"]["examples"][0]["preview"]["x"]["limit"] == 280
    assert "preview" in create["responses"]["201"]["description"]
    variants = schemas["CampaignIn"]["properties"]["variants"]
    assert variants["additionalProperties"] == {"$ref": "#/components/schemas/VariantIn"}
    assert set(variants["propertyNames"]["enum"]) == {
        "bluesky",
        "facebook",
        "linkedin",
        "mastodon",
        "x",
    }
    assert variants["examples"] and schemas["VariantIn"]["examples"]
    shown = schemas["CampaignOut"]["properties"]
    assert {"variants", "preview"} <= set(shown)
    example = schemas["CampaignOut"]["examples"][0]
    assert example["variants"] and example["preview"]
    error = schemas["ErrorItem"]["properties"]
    assert {"network", "field", "counted", "length", "limit"} <= set(error)
