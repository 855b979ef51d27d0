"""HTTP edge of every service: the API entrypoint, problem+json errors and the OpenAPI document."""

from shared.http.api import ApiResponse, Call, api
from shared.http.problems import (
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    Problem,
    UnprocessableContent,
    register_problem,
)

__all__ = [
    "ApiResponse",
    "Call",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PreconditionFailed",
    "PreconditionRequired",
    "Problem",
    "UnprocessableContent",
    "api",
    "register_problem",
]
