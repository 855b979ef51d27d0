"""Schemathesis hooks (`SCHEMATHESIS_HOOKS`) for the rules an OpenAPI document cannot state.

JSON Schema describes one value at a time; these rules relate two values, or a value to the server's state
or to the caller's token. A *positive* case (one the document calls valid) that breaks one of them is made
to keep it, so `positive_data_acceptance` judges the schema and not the fuzzer's luck; negative cases are
left alone. Each rule has its own test where the server's refusal is asserted:

- a list `cursor` is signed by the server (tests/integration/test_edge_hardening.py: forged cursors are
  400 `invalid-cursor`): a generated one is never valid, so a positive case starts on the first page;
- an `Idempotency-Key` names one request: the same key with another body is 422 by design
  (tests/integration/test_edge_hardening.py), so every positive case gets a key of its own;
- a referral's dates are not after today, nor before the defendant's birth;
- a date range (`from`/`to`, `received_from`/`received_to`) runs forward;
- `needs=review` takes only program, limit and cursor (the queue has its own order);
- HSDS `proximity` is measured from a `postcode`; a directory search's `lat` and `lon` come together;
- a ruleset pack is for the caller's agency (the token's, "stl-cao" here), names its programs and reason
  codes once, gives each program a duration whose minimum is not above its maximum, lists a statute as
  violent or non-violent but not both, and its requirements name installed criterion plugins with their
  own params (the pack's shape is in the document; the plugins are not);
- the casework assignment strategy is an installed plugin.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import schemathesis

AGENCY = "stl-cao"  # the fuzzing token's agency (test_api_contracts.py)
REVIEW_QUERY = {"needs", "program", "limit", "cursor"}
RANGES = (("from", "to"), ("received_from", "received_to"))
_keys = itertools.count()


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive:
        return case
    label = f"{case.method.upper()} {case.operation.path}"
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
        _forward(case.query)
        if case.query.get("needs") == "review":
            for name in set(case.query) - REVIEW_QUERY:
                del case.query[name]
        if label == "GET /hsds/service_at_locations" and case.query.get("postcode") is None:
            case.query.pop("proximity", None)
        if label == "GET /v1/services" and ("lat" in case.query) != ("lon" in case.query):
            case.query.pop("lat", None)
            case.query.pop("lon", None)
    for name in list(case.headers or {}):
        if name.lower() == "idempotency-key":
            case.headers[name] = f"fuzz-{next(_keys)}"
    if label == "POST /v1/referrals:batch" and isinstance(case.body, list):
        for item in case.body:
            if isinstance(item, dict):
                _keep_referral_rules(item)
    if isinstance(case.body, dict):
        _forward(case.body)
        if label == "POST /v1/referrals":
            _keep_referral_rules(case.body)
        if label == "POST /v1/rulesets":
            _keep_pack_rules(case.body)
        if label == "PUT /v1/settings" and "assignment_strategy" in case.body:
            from services.casework.domain.assignment import load_strategies

            case.body["assignment_strategy"] = sorted(load_strategies())[0]
    return case


def _keep_referral_rules(referral: dict[str, Any]) -> None:
    """No date of a referral is after today, and none before the defendant's birth."""
    today = dt.date.today().isoformat()
    dated: list[tuple[dict[str, Any], str]] = []
    defendant = referral.get("defendant")
    if isinstance(defendant, dict) and isinstance(defendant.get("date_of_birth"), str):
        dated.append((defendant, "date_of_birth"))
    for charge in referral.get("charges") or []:
        if isinstance(charge, dict) and isinstance(charge.get("offense_date"), str):
            dated.append((charge, "offense_date"))
    history = referral.get("history")
    if isinstance(history, dict):
        for kind in ("convictions", "prior_diversions"):
            for entry in history.get(kind) or []:
                if isinstance(entry, dict) and isinstance(entry.get("date"), str):
                    dated.append((entry, "date"))
    for holder, name in dated:
        holder[name] = min(holder[name], today)
    if dated and dated[0][1] == "date_of_birth":
        defendant["date_of_birth"] = min(holder[name] for holder, name in dated)  # type: ignore[index]


def _forward(values: dict[str, Any]) -> None:
    for start, end in RANGES:
        first, last = values.get(start), values.get(end)
        if isinstance(first, str) and isinstance(last, str) and first > last:
            values[start], values[end] = last, first


def _keep_pack_rules(pack: dict[str, Any]) -> None:
    from services.intake.domain.criteria import normalize_statute

    pack["agency"] = AGENCY
    pack["shared_requires"] = []
    for program in pack.get("programs") or []:
        if isinstance(program, dict):
            program["requires"] = []
            duration = program.get("duration")
            if isinstance(duration, dict) and isinstance(duration.get("min_months"), (int, float)) and \
                    isinstance(duration.get("max_months"), (int, float)) and \
                    duration["min_months"] > duration["max_months"]:
                duration["min_months"], duration["max_months"] = duration["max_months"], duration["min_months"]
    if isinstance(pack.get("programs"), list):
        pack["programs"] = list({p.get("id"): p for p in pack["programs"] if isinstance(p, dict)}.values())
    for reasons in ("decline_reasons", "override_reasons", "deferral_reasons"):
        if isinstance(pack.get(reasons), list):
            pack[reasons] = list({r.get("code"): r for r in pack[reasons] if isinstance(r, dict)}.values())
    offenses = pack.get("offenses")
    if isinstance(offenses, dict) and offenses.get("violent") and offenses.get("non_violent"):
        violent = {normalize_statute(s["statute"]) for s in offenses["violent"] if isinstance(s, dict)}
        offenses["non_violent"] = [s for s in offenses["non_violent"]
                                   if isinstance(s, dict) and normalize_statute(s["statute"]) not in violent]
