"""RFC 9457 problem details, and the one table that maps domain errors to HTTP statuses."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from werkzeug.wrappers import Response

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://diversion.example.org/problems/"


class FieldError(BaseModel):
    """One invalid input, with the path of the field that was wrong."""

    field: str = Field(description="dotted path of the field, e.g. defendant.date_of_birth")
    message: str
    type: str


class ProblemDocument(BaseModel):
    """RFC 9457 problem details, as every error response of the suite."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None
    allowed: list[str] | None = None


class Problem(Exception):
    """An error the client can act on. Subclasses fix the status; `slug` names the problem type."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        slug: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(detail or self.title)
        self.detail = detail
        if slug:
            self.slug = slug
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


class BadRequest(Problem):
    status, slug, title = 400, "malformed-request", "Malformed request"


class Unauthorized(Problem):
    status, slug, title = 401, "unauthenticated", "Authentication required"


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(Problem):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(Problem):
    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(Problem):
    status, slug, title = 412, "precondition-failed", "The resource changed since you read it"


class PayloadTooLarge(Problem):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(Problem):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class UnprocessableContent(Problem):
    status, slug, title = 422, "validation-error", "Request body is invalid"


class PreconditionRequired(Problem):
    status, slug, title = 428, "precondition-required", "If-Match is required to change this resource"


class ServiceUnavailable(Problem):
    status, slug, title = 503, "unavailable", "Service unavailable"


# Domain errors (plain Python exceptions) mapped to problems in one place; services register theirs.
_REGISTRY: dict[type[BaseException], tuple[int, str, str]] = {}


def register_problem(exc_type: type[BaseException], status: int, slug: str, title: str) -> None:
    _REGISTRY[exc_type] = (status, slug, title)


def as_problem(exc: BaseException) -> Problem | None:
    if isinstance(exc, Problem):
        return exc
    for klass in type(exc).__mro__:
        if klass in _REGISTRY:
            status, slug, title = _REGISTRY[klass]
            extra = dict(getattr(exc, "problem_extra", {}) or {})
            errors = getattr(exc, "problem_errors", None) or extra.pop("errors", None)
            problem = Problem(str(exc), slug=slug, errors=errors, **extra)
            problem.status, problem.title = status, title
            return problem
    return None


def problem_response(problem: Problem, request_id: str | None = None, instance: str | None = None) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + problem.slug,
        "title": problem.title,
        "status": problem.status,
    }
    if problem.detail:
        body["detail"] = problem.detail
    if instance:
        body["instance"] = instance
    if request_id:
        body["request_id"] = request_id
    if problem.errors is not None:
        body["errors"] = problem.errors
    body.update(problem.extra)
    headers = {"Content-Type": PROBLEM_MEDIA_TYPE, **problem.headers}
    if request_id:
        headers["X-Request-ID"] = request_id
    return Response(json.dumps(body, default=str), status=problem.status, headers=headers)


def validation_errors(errors: list[Any], prefix: str = "") -> list[dict[str, str]]:
    """pydantic errors as field paths a client can show next to its inputs."""
    out = []
    for err in errors:
        path = ".".join(str(part) for part in err.get("loc", ()) if part != "__root__")
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        out.append({"field": path or "(body)", "message": err.get("msg", "invalid"), "type": err.get("type", "")})
    return out
