"""intake names the earlier referrals its duplicate detection matched to the same person in referral.accepted,
so casework keeps one person across cases (ADR 0071); a screener's "not_duplicate" judgement stops that."""

from __future__ import annotations

import pytest
from intake_api_support import decide, event_tap, install_pack, referral_body, submit

from tests.conftest import make_token

ACCEPTED = "org.diversion.intake.referral.accepted"


@pytest.fixture
def api(start_service, agency):
    api = start_service("intake")
    install_pack(api, agency)
    return api


def accept(api, agency, referral_id):
    with event_tap("intake", ACCEPTED) as next_for:
        response = decide(api, agency, referral_id, {"action": "accept", "program": "young-adult"})
        assert response.status_code == 200, response.text
        return next_for(referral_id)["data"]


def test_accepted_referral_names_the_same_persons_earlier_referrals(api, agency):
    first = submit(api, agency, referral_body(first_name="José", last_name="O'Neil"))
    other = submit(api, agency, referral_body(first_name="Someone", last_name="Else"))
    assert accept(api, agency, first["id"])["same_person_referral_ids"] == []
    again = submit(api, agency, referral_body(first_name="jose", last_name="ONEIL"))
    assert accept(api, agency, again["id"])["same_person_referral_ids"] == [first["id"]]
    assert other["id"] not in accept(api, agency, other["id"])["same_person_referral_ids"]


def test_a_referral_judged_not_a_duplicate_names_no_one(api, agency):
    submit(api, agency, referral_body(first_name="José", last_name="O'Neil"))
    same = submit(api, agency, referral_body(first_name="jose", last_name="ONEIL"))
    judged = api.post(f"/v1/referrals/{same['id']}/judgements", token=make_token(agency, ("screener",), sub="s-1"),
                      json={"kind": "duplicate", "outcome": "not_duplicate", "reason": "another person, same name"})
    assert judged.status_code == 201, judged.text
    assert accept(api, agency, same["id"])["same_person_referral_ids"] == []
