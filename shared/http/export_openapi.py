"""Write each service's OpenAPI document to a folder (`make openapi` → docs/openapi/<service>.json).

The same documents are served live at `/openapi.json`; a test keeps the checked-in copies current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.config import SERVICES
from shared.http.openapi import openapi_document
from shared.runner import service_class


def document_for(service: str) -> dict[str, Any]:
    cls = service_class(service)
    return openapi_document(cls, title=f"Diversion {service} API", version=getattr(cls, "api_version", "1.0.0"),
                            description=(cls.__doc__ or "").strip())


def render(service: str) -> str:
    return json.dumps(document_for(service), indent=2, sort_keys=True) + "\n"


def main(folder: str = "docs/openapi") -> None:
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    for service in SERVICES:
        (target / f"{service}.json").write_text(render(service))
        print(f"wrote {target / f'{service}.json'}")


if __name__ == "__main__":
    main(*sys.argv[1:])
