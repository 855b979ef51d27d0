"""Bundled casework packs (YAML data): the goal each priority need domain proposes, per agency.

`<agency>.yaml` is the agency's pack; `default.yaml` covers every domain and fills what an agency's pack leaves
out. A pack that does not parse is refused loudly (ValueError) rather than silently proposing nothing.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from services.casework.domain.goals import GoalTemplate, parse_templates
from services.casework.domain.plan import NeedDomain

PACKS = Path(__file__).parent
AGENCY_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def _read(name: str) -> dict[NeedDomain, GoalTemplate]:
    path = PACKS / f"{name}.yaml"
    if not path.is_file():
        return {}
    raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict) or not isinstance(raw.get("goal_templates", {}), dict):
        raise ValueError(f"casework pack {path.name}: goal_templates must be a mapping of domain to template")
    return parse_templates(raw.get("goal_templates", {}))


@lru_cache(maxsize=256)
def goal_templates(agency: str) -> dict[NeedDomain, GoalTemplate]:
    """The agency's goal templates over the default pack's (an unknown agency gets the default pack)."""
    templates = dict(_read("default"))
    if AGENCY_SLUG.match(agency) and agency != "default":
        templates.update(_read(agency))
    return templates
