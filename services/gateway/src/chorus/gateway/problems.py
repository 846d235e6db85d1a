"""Every error leaves as RFC 9457 `application/problem+json`; never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "BODY_PROBLEMS",
    "Problem",
    "ProblemDetail",
    "install_problem_handlers",
    "problem_media_type",
    "problem_response",
    "problems",
]

log = logging.getLogger(__name__)

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    411: "Length required",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


class ErrorItem(BaseModel):
    location: list[str | int] = Field(description="Where in the request: body, query, path...")
    message: str
    # Only where a campaign does not fit one of its networks (`chorus.gateway.previews`).
    network: str | None = Field(default=None, description="The network that would refuse it.")
    field: str | None = Field(
        default=None, description="The body field to shorten: `message`, `variants.x.message`."
    )
    counted: str | None = Field(default=None, description="How the network counts the length.")
    length: int | None = Field(default=None, description="The length, counted so.")
    limit: int | None = Field(default=None, description="The most the network takes.")


class ProblemDetail(BaseModel):
    """RFC 9457 problem details, as every error is answered."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank")
    title: str
    status: int
    detail: str
    errors: list[ErrorItem] | None = Field(
        default=None, description="Each input that was refused, where there are several."
    )


_WHEN = {
    400: "The body is not valid JSON.",
    401: "No API key, or not a valid one.",
    403: "Not allowed here (a development-only route, or the network refused access).",
    404: "No such resource for this organisation.",
    409: "The request conflicts with the current state.",
    411: "The body was sent without a Content-Length.",
    413: "The body is larger than the gateway accepts.",
    415: "The body is not application/json.",
    422: "The request does not validate.",
    429: "This API key sent more requests than its rate allows; retry after `Retry-After` seconds.",
    500: "Something went wrong on our side; it has been logged.",
    502: "The network's answer could not be used.",
    503: "The network did not answer; try again.",
}
# What any route that takes a JSON body can answer about the body itself.
BODY_PROBLEMS = (400, 411, 413, 415, 422)


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before sending again.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}


def _example(status: int) -> dict[str, Any]:
    example: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES[status],
        "status": status,
        "detail": _WHEN[status],
    }
    if status == 422:
        example["detail"] = "The request does not validate."
        example["errors"] = [
            {"location": ["body", "ambassadors", 3, "timezone"], "message": "unknown time zone"}
        ]
    return example


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problem statuses an authenticated route can answer (401,
    429 and 500 always). They are served as application/problem+json: `problem_media_type`
    fixes the document."""
    documented: dict[int | str, dict[str, Any]] = {
        status: {
            "model": ProblemDetail,
            "description": _WHEN[status],
            "content": {"application/json": {"example": _example(status)}},
        }
        for status in sorted({401, 429, 500, *statuses})
    }
    documented[429]["headers"] = _RETRY_AFTER
    return documented


PROBLEM_REF = "#/components/schemas/ProblemDetail"


def problem_media_type(openapi: dict[str, Any]) -> dict[str, Any]:
    """Document problem responses under the media type they are sent with."""
    for path in openapi.get("paths", {}).values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                schema = content.get("application/json", {}).get("schema", {})
                if schema.get("$ref") == PROBLEM_REF:
                    content["application/problem+json"] = content.pop("application/json")
    return openapi


class Problem(Exception):
    """Raise from a route: `raise Problem(422, "Networks not supported", errors=[...])`."""

    def __init__(
        self, status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **jsonable_encoder(extra),
    }
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_request: Request, exc: Problem) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        return problem_response(
            exc.status, exc.detail, headers={**headers, **exc.headers} or None, **exc.extra
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            exc.status_code, str(exc.detail), headers=dict(exc.headers or {}) or None
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"location": list(e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()
        ]
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return problem_response(400, "The request body is not valid JSON.", errors=errors)
        return problem_response(422, "The request does not validate.", errors=errors)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem_response(500, "Something went wrong on our side; it has been logged.")
