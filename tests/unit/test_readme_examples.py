"""The README's plugin examples run: a criterion screens inside a real pack, a channel sends to a real server."""

from __future__ import annotations

import http.server
import re
import threading
import types
from datetime import date
from pathlib import Path

import pytest

from services.intake.domain.criteria import load_criteria
from services.intake.domain.referral import Referral
from services.intake.domain.ruleset import load_ruleset
from services.intake.domain.screening import screen
from services.notifications.channels.base import AttemptStatus, Message
from tests.unit.intake.intake_builders import charge, referral_data

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def example_module(first_line: str) -> types.ModuleType:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    (source,) = [block for block in blocks if block.startswith(first_line)]
    module = types.ModuleType(first_line.removeprefix("# ").removesuffix(".py").replace("/", "."))
    exec(compile(source, f"README.md:{first_line}", "exec"), module.__dict__)
    return module


def test_the_readme_criterion_screens_a_referral_inside_an_agency_pack(tmp_path):
    MaxCharges = example_module("# my_agency/criteria.py").MaxCharges
    pack = tmp_path / "pack.yaml"
    pack.write_text("""
agency: demo
name: Demo
version: "1"
programs:
  - id: few-charges
    name: Few charges
    duration: {min_months: 6, max_months: 12}
    requires:
      - criterion: max_charges
        params: {limit: 2}
decline_reasons:
  - {code: not_eligible, label: No program's criteria are met}
override_reasons:
  - {code: prosecutor_discretion, label: Prosecutorial discretion}
""")
    ruleset = load_ruleset(pack, criteria={**load_criteria(use_entry_points=False), "max_charges": MaxCharges})
    one = Referral.model_validate(referral_data())
    three = Referral.model_validate(referral_data(charges=[charge(), charge(), charge()]))
    verdicts = {}
    for name, referral in (("one", one), ("three", three)):
        (criterion,) = screen(referral, ruleset, today=date(2026, 11, 28)).program("few-charges").criteria
        verdicts[name] = (criterion.status, criterion.reason)
    assert verdicts == {"one": ("met", "1 charge(s), at most 2"), "three": ("not_met", "3 charge(s), at most 2")}

    pack.write_text(pack.read_text().replace("{limit: 2}", "{limit: two}"))
    with pytest.raises(Exception, match="max_charges"):
        load_ruleset(pack, criteria={**load_criteria(use_entry_points=False), "max_charges": MaxCharges})


def test_the_readme_channel_delivers_and_classifies_failures():
    ChatChannel = example_module("# my_agency/channels.py").ChatChannel
    answers = iter([204, 503, 400])
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(next(answers))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        channel = ChatChannel(f"http://127.0.0.1:{server.server_address[1]}/chat-hook")
        message = Message(id="dlv_1", recipient="staff", body="New assignment")
        results = [channel.send(message).status for _ in range(3)]
    finally:
        server.shutdown()
        server.server_close()
    assert results == [AttemptStatus.DELIVERED, AttemptStatus.RETRY, AttemptStatus.FAILED]
    assert b'"text": "New assignment"' in received[0]
    # nobody listening any more: a transient failure, tried again on the schedule
    assert channel.send(message).status is AttemptStatus.RETRY
