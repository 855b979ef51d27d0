"""A method that types its call (`call: Call[Body, Query]`) names the models its route parses: a wrong annotation
would let mypy check the method against a body it never receives."""

from __future__ import annotations

import typing

import pytest

from services.casework.service import CaseworkService
from services.intake.service import IntakeService
from services.notifications.service import NotificationsService
from services.resources.service import ResourcesService
from shared.http.api import Call, api_routes

SERVICES = (IntakeService, CaseworkService, ResourcesService, NotificationsService)


def _typed_calls() -> list[tuple[str, str, object, object]]:
    found = []
    for service in SERVICES:
        for name, entrypoint in api_routes(service):
            hints = typing.get_type_hints(getattr(service, name), include_extras=True)
            annotation = hints.get("call")
            if typing.get_origin(annotation) is Call:
                found.append((service.__name__, name, annotation, entrypoint))
    return found


def test_some_methods_type_their_call() -> None:
    assert len(_typed_calls()) >= 8


@pytest.mark.parametrize(("service", "method", "annotation", "entrypoint"), _typed_calls(),
                         ids=lambda value: value if isinstance(value, str) else "")
def test_a_typed_call_names_the_models_its_route_parses(service, method, annotation, entrypoint) -> None:
    args = typing.get_args(annotation)
    body = args[0] if args else typing.Any
    query = args[1] if len(args) > 1 else typing.Any
    if body is not typing.Any:
        assert body == (entrypoint.body_model if entrypoint.body_model is not None else type(None)), method
    if query is not typing.Any:
        assert query == (entrypoint.query_model if entrypoint.query_model is not None else type(None)), method
