"""Typed errors that cross service boundaries over RPC, and the registry that rebuilds them on the caller.

A service raises `ConsentRequired(...)`; the caller's proxy raises `ConsentRequired` too, not a generic
`RemoteError`, because both sides register the class under the same path with `@remote_error`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from nameko.exceptions import RemoteError
from nameko.exceptions import registry as _nameko_registry

E = TypeVar("E", bound=type[BaseException])

__all__ = ["ConsentRequired", "RemoteError", "RpcTimeout", "remote_error", "registered_remote_errors"]


def remote_error(exc_path: str) -> Callable[[E], E]:
    """Register an exception class as what the caller raises when the callee raised `exc_path`.

    `exc_path` is the dotted path of the exception class raised by the remote service (module + name).
    """

    def register(exc_type: E) -> E:
        _nameko_registry[exc_path] = exc_type
        return exc_type

    return register


def registered_remote_errors() -> dict[str, type[BaseException]]:
    return dict(_nameko_registry)


class RpcTimeout(Exception):
    """A remote service did not answer within the timeout (stopped, overloaded or unreachable)."""

    def __init__(self, service: str, method: str, timeout: float) -> None:
        self.service, self.method, self.timeout = service, method, timeout
        super().__init__(f"{service}.{method} did not answer within {timeout:g}s")


@remote_error("shared.messaging.errors.ConsentRequired")
class ConsentRequired(Exception):
    """No valid consent covers the disclosure (missing, expired or revoked); nothing may be shared."""
