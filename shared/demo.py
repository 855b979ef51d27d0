"""`diversion demo`: one person's path through the running suite, printed as a timeline.

The same `Walkthrough` is what the end-to-end test runs (tests/e2e), so the demo cannot silently rot.
It plays every user in turn: the screener, the supervisor, the partner organization (with a local
webhook receiver that verifies signatures with the Standard Webhooks reference library).

Over 400 lines on purpose: the walkthrough's steps in the order a person lives them, one short method each.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import click
import requests

from shared.cli import CONTEXT_SETTINGS

TokenFactory = Callable[..., str]
Mailbox = Callable[[], list[EmailMessage]]
PARTICIPANT_EMAIL = "jordan@example.org"


class DemoFailed(Exception):
    pass


@dataclass
class Step:
    service: str
    title: str
    detail: str = ""


@dataclass
class Outcome:
    referral_id: str = ""
    screening: dict[str, Any] = field(default_factory=dict)
    case: dict[str, Any] = field(default_factory=dict)
    webhook_headers: dict[str, str] = field(default_factory=dict)
    webhook_body: bytes = b""
    webhook_payload: Any = None
    service_referral_id: str = ""
    goal: dict[str, Any] = field(default_factory=dict)  # the housing goal, once the partner's answer moved it
    appointment_id: str = ""
    reminder: dict[str, Any] = field(default_factory=dict)
    reminder_delivery: dict[str, Any] = field(default_factory=dict)
    reminder_mail: EmailMessage | None = None
    disposition: str | None = None
    disclosures: list[dict[str, Any]] = field(default_factory=list)  # casework's accounting, newest first
    sealing: dict[str, Any] = field(default_factory=dict)  # intake's sealing ledger entry, all confirmed


class _Receiver:
    """The partner's webhook endpoint: a real HTTP server on loopback."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True  # closing must not wait for a sender's idle keep-alive connection
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/diversion"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _wait(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise DemoFailed(f"{what}: nothing after {timeout:.0f}s")


def _goal_in(plan: dict[str, Any], goal_id: str) -> dict[str, Any]:
    """One goal of a support plan as casework answers it, with the plan's version."""
    return {**next(g for g in plan["goals"] if g["id"] == goal_id), "version": plan["version"]}


class Walkthrough:
    """`reminder_lead` is the suite's shortest reminder offset (the appointment is booked just beyond it, so
    the reminder falls due within seconds); `mailbox` reads the mail catcher the suite sends email to."""

    def __init__(self, urls: dict[str, str], token: TokenFactory, on_step: Callable[[Step], None],
                 agency: str = "stl-cao", reminder_lead: dt.timedelta = dt.timedelta(hours=2),
                 mailbox: Mailbox | None = None):
        self.urls, self.token, self.on_step, self.agency = urls, token, on_step, agency
        self.reminder_lead, self.mailbox = reminder_lead, mailbox

    def _call(self, method: str, service: str, path: str, token: str, expect: int, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        response = requests.request(method, self.urls[service] + path, headers=headers, timeout=20, **kwargs)
        if response.status_code != expect:
            raise DemoFailed(f"{service}: {method} {path} answered {response.status_code}: {response.text[:800]}")
        return response

    def _refer(self, token: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Make the service referral; None while resources has not yet learnt the case from `case.opened`."""
        response = requests.post(self.urls["resources"] + "/v1/service-referrals", json=body, timeout=20,
                                 headers={"Authorization": f"Bearer {token}", "Idempotency-Key": body["case_id"]})
        if response.status_code == 422 and "case-participant-mismatch" in response.text:
            return None
        if response.status_code != 201:
            raise DemoFailed(f"resources: POST /v1/service-referrals answered {response.status_code}: "
                             f"{response.text[:800]}")
        return response.json()  # type: ignore[no-any-return]

    def _goal(self, out: Outcome, token: str, goal_id: str) -> dict[str, Any]:
        current = self._call("GET", "casework", f"/v1/cases/{out.case['id']}/plan", token, 200).json()
        return _goal_in(current, goal_id)

    def _change_plan(self, out: Outcome, token: str, change: dict[str, Any]) -> dict[str, Any]:
        """Apply one change to the case's support plan; the goal it added or changed, with the plan version."""
        path = f"/v1/cases/{out.case['id']}/plan"
        current = self._call("GET", "casework", path, token, 200)
        before = {g["id"] for g in current.json()["goals"]}
        changed = self._call("POST", "casework", f"{path}/changes", token, 200, json=change,
                             headers={"If-Match": current.headers["ETag"]}).json()
        return _goal_in(changed, change.get("goal_id") or next(g["id"] for g in changed["goals"]
                                                                if g["id"] not in before))

    def _make_whole(self, out: Outcome, token: str, today: dt.date) -> None:
        """A restitution condition paid in full, so the case's conditions are met when it completes."""
        path = f"/v1/cases/{out.case['id']}/conditions"
        condition = self._call("POST", "casework", path, token, 201, json={
            "kind": "make_whole", "description": "restitution", "unit": "dollars", "required_amount": "150.00"}).json()
        self._call("POST", "casework", f"{path}/{condition['id']}/payments", token, 201, json={
            "paid_on": today.isoformat(), "amount": "150.00", "method": "money_order", "receipt_number": "DEMO-0001"})
        paid = self._call("GET", "casework", f"{path}/{condition['id']}", token, 200).json()
        if not paid["met"]:
            raise DemoFailed(f"the restitution condition is not met after paying it: {paid}")
        self.on_step(Step("casework", "restitution paid", f"$150.00 money order; balance {paid['remaining']}, met"))

    def run(self) -> Outcome:
        from standardwebhooks.webhooks import Webhook

        out = Outcome()
        screener = self.token(agency=self.agency, roles=("screener",), sub="demo-screener")
        supervisor = self.token(agency=self.agency, roles=("supervisor",), sub="demo-supervisor")
        today = dt.date.today()

        referral = self._call("POST", "intake", "/v1/referrals", screener, 201, json={
            "source": "police", "case_number": f"2611-CR{uuid.uuid4().hex[:6].upper()}",
            "defendant": {"first_name": "Jordan", "last_name": "Example", "date_of_birth": "2003-04-05",
                          "phone": "+13145550100", "email": PARTICIPANT_EMAIL},
            "charges": [{"statute": "570.030", "description": "Stealing", "offense_class": "felony_d",
                         "offense_date": (today - dt.timedelta(days=30)).isoformat(), "violent": None}],
            "history": {"convictions": [], "prior_diversions": [], "pending_cases": 0},
        })
        out.referral_id, out.screening = referral.json()["id"], referral.json()["screening"]
        recommendation, version = out.screening["recommendation"], out.screening["ruleset_version"]
        self.on_step(Step("intake", "referral screened", f"recommendation {recommendation} (ruleset {version})"))
        for program in out.screening["programs"]:
            for criterion in program["criteria"]:
                self.on_step(Step("intake", f"  {program['program']}: {criterion['criterion']}",
                                  f"{criterion['status']}: {criterion['reason']}"))
        self._call("POST", "intake", f"/v1/referrals/{out.referral_id}/decision", screener, 200,
                   json={"action": "accept", "program": "young-adult"}, headers={"If-Match": referral.headers["ETag"]})
        self.on_step(Step("intake", "accepted into young-adult", "referral.accepted published through the outbox"))

        def opened() -> dict[str, Any] | None:
            items = self._call("GET", "casework", "/v1/cases", supervisor, 200,
                               params={"referral_id": out.referral_id}).json()["items"]
            found = [c for c in items if c["case_manager_id"]]
            return found[0] if found else None

        out.case = _wait(opened, "case opened and assigned")
        self.on_step(Step("casework", "case opened and assigned",
                          f"state {out.case['state']}, expected end {out.case['expected_end_date']}"))
        staff = self._call("GET", "casework", f"/v1/staff/{out.case['case_manager_id']}", supervisor, 200).json()
        # The assigned case manager makes the referral: resources applies casework's caseload rule (ADR 0071).
        case_manager = self.token(agency=self.agency, roles=("case_manager",), sub=staff["subject"])
        plan = self._call("POST", "casework", f"/v1/cases/{out.case['id']}/assessments", supervisor, 201, json={
            "domains": [{"domain": "housing", "level": "high", "notes": "staying with friends"},
                        {"domain": "employment", "level": "moderate"}]})
        self.on_step(Step("casework", "needs assessment recorded", f"priorities {plan.json()['priorities']}"))
        proposed = self._call("GET", "casework", f"/v1/cases/{out.case['id']}/plan", supervisor, 200).json()
        goal = _goal_in(proposed, next(g["id"] for g in proposed["goals"] if g["domain"] == "housing"))
        self.on_step(Step("casework", "support plan proposed from the assessment",
                          f"v{goal['version']}: goals for {[g['domain'] for g in proposed['goals']]}; housing goal "
                          f"'{goal['description']}', {goal['status']}"))

        orgs = self._call("GET", "resources", "/v1/organizations", supervisor, 200, params={"search": "St. Patrick"})
        org = orgs.json()["items"][0]
        services = self._call("GET", "resources", "/v1/services", supervisor, 200,
                              params={"need": "housing", "organization_id": org["id"]}).json()["items"]
        if not services:
            raise DemoFailed("the seed directory has no housing service for St. Patrick Center")
        self.on_step(Step("resources", "directory searched", f"{org['name']}: {services[0]['name']}"))

        consent = self._call("POST", "casework", f"/v1/participants/{out.case['participant_id']}/consents",
                             supervisor, 201, json={
            "discloser": "St. Louis Circuit Attorney's Office Diversion Unit",
            "categories": ["contact_info", "needs_assessment"],
            "recipient_org_id": org["id"], "recipient_name": org["name"], "purposes": ["service_referral"],
            "right_to_revoke_acknowledged": True, "revocation_instructions": "tell your case manager in writing",
            "expires_on": (today + dt.timedelta(days=365)).isoformat(),
            "signature": {"signed_by": "Jordan Example", "method": "electronic", "signed_on": today.isoformat()},
        }).json()
        self.on_step(Step("casework", "consent recorded (42 CFR 2.31)",
                          f"missing elements: {consent['missing_elements']}"))

        receiver = _Receiver()
        try:
            partner = self.token(agency=self.agency, roles=("partner",), org=org["id"], sub="demo-partner")
            subscription = self._call("POST", "notifications", "/v1/subscriptions", partner, 201,
                                      json={"url": receiver.url, "event_types": ["service_referral.requested"]}).json()
            self.on_step(Step("notifications", "partner subscribed a webhook", receiver.url))
            body = {
                "case_id": out.case["id"], "participant_id": out.case["participant_id"],
                "participant_name": "Jordan Example", "contact": {"phone": "+13145550100"},
                "need": "stable housing", "need_category": "housing", "service_id": services[0]["id"],
                "consent": {"categories": ["contact_info"], "purpose": "service_referral"},
            }
            created = _wait(lambda: self._refer(case_manager, body), "resources knows the case (case.opened)")
            out.service_referral_id = created["id"]
            self.on_step(Step("resources", "service referral sent",
                              f"by the assigned case manager {staff['name']}; consent confirmed by casework over RPC"))
            linked = self._change_plan(out, supervisor, {"op": "link_service_referral", "goal_id": goal["id"],
                                                         "service_referral_id": out.service_referral_id})
            self.on_step(Step("casework", "referral linked to the housing goal", f"plan v{linked['version']}"))
            out.webhook_headers, out.webhook_body = _wait(lambda: receiver.received and receiver.received[0],
                                                          "signed webhook at the partner")
            out.webhook_payload = Webhook(subscription["secret"]).verify(out.webhook_body, out.webhook_headers)
            self.on_step(Step("notifications", "partner received a signed webhook",
                              f"webhook-id {out.webhook_headers.get('webhook-id')}, signature verified"))
        finally:
            receiver.close()

        mine = self._call("GET", "resources", f"/v1/service-referrals/{out.service_referral_id}", partner, 200)
        self._call("PATCH", "resources", f"/v1/service-referrals/{out.service_referral_id}", partner, 200,
                   json={"status": "accepted"}, headers={"If-Match": mine.headers["ETag"]})
        self.on_step(Step("resources", "partner accepted the referral", "service_referral.status_changed"))
        accounting = f"/v1/participants/{out.case['participant_id']}/disclosures"

        def accounted() -> list[dict[str, Any]] | None:
            items = self._call("GET", "casework", accounting, case_manager, 200).json()["items"]
            return items if {i["channel"] for i in items} >= {"service_referral", "webhook", "partner_read"} else None

        out.disclosures = _wait(accounted, "the accounting of disclosures in casework")
        self.on_step(Step("casework", "accounting of disclosures",
                          "; ".join(f"{i['channel']} to {i['recipient_org_id'][:8]}: {i['outcome']} "
                                    f"({', '.join(i['categories'])})" for i in reversed(out.disclosures))))

        def goal_moved() -> dict[str, Any] | None:
            found = self._goal(out, supervisor, goal["id"])
            return found if found["status"] == "in_progress" else None

        out.goal = _wait(goal_moved, "the housing goal moved by the partner's answer")
        self.on_step(Step("casework", "plan moved by the partner's answer",
                          f"v{out.goal['version']}: housing goal {out.goal['status']}"))
        self._remind(out, supervisor)

        self._make_whole(out, supervisor, dt.datetime.now(dt.UTC).date())
        current = self._call("GET", "casework", f"/v1/cases/{out.case['id']}", supervisor, 200)
        self._call("POST", "casework", f"/v1/cases/{out.case['id']}/transitions", supervisor, 200,
                   json={"action": "complete", "disposition": "dismissal",
                         "override_reason": "demo: completed early by a supervisor"},
                   headers={"If-Match": current.headers["ETag"]})
        self.on_step(Step("casework", "case completed", "disposition dismissal (supervisor override of the minimum)"))

        def disposed() -> str | None:  # the final action stays readable once the record is sealed
            response = self._call("GET", "intake", f"/v1/referrals/{out.referral_id}/disposition", supervisor, 200)
            return response.json()["disposition"]  # type: ignore[no-any-return]

        out.disposition = _wait(disposed, "disposition back in intake")
        self.on_step(Step("intake", "disposition on the prosecution record", str(out.disposition)))
        self._sealed(out, supervisor)
        return out

    def _sealed(self, out: Outcome, supervisor: str) -> None:
        """The dismissal seals the records (RSMo 610.105): every service confirms, ordinary roles get 404."""
        officer = self.token(agency=self.agency, roles=("records_officer",), sub="demo-records-officer")

        def confirmed() -> dict[str, Any] | None:
            entries = self._call("GET", "intake", "/v1/sealing-ledger", officer, 200,
                                 params={"referral_id": out.referral_id}).json()["items"]
            return next((e for e in entries if e["kind"] == "sealing" and not e["missing"]), None)

        out.sealing = _wait(confirmed, "every service confirmed the sealing")
        self.on_step(Step("intake", "records sealed under the agency's pack",
                          f"pack {out.sealing['pack_version']}: four services confirmed in "
                          f"{out.sealing['elapsed_seconds']:.1f} s"))
        self._call("GET", "casework", f"/v1/cases/{out.case['id']}", supervisor, 404)
        self._call("GET", "casework", f"/v1/cases/{out.case['id']}", officer, 200,
                   headers={"X-Legal-Basis": "criminal-justice-agency"})
        self.on_step(Step("casework", "sealed case: 404 for the supervisor",
                          "a records officer opened it under criminal-justice-agency (audited)"))

    def _remind(self, out: Outcome, supervisor: str) -> None:
        """Book an appointment just beyond the shortest reminder offset; follow the reminder into the mailbox."""
        case_id = out.case["id"]
        self._call("PUT", "notifications", f"/v1/contact-preferences/{case_id}", supervisor, 201,
                   json={"channel": "email", "language": "en"})
        starts = dt.datetime.now(dt.UTC) + self.reminder_lead + dt.timedelta(seconds=15)
        appointment = self._call("POST", "casework", f"/v1/cases/{case_id}/appointments", supervisor, 201, json={
            "starts_at": starts.isoformat(), "kind": "check-in", "with_whom": "case manager",
            "location": "Diversion Unit office"}).json()
        out.appointment_id = appointment["id"]
        local = starts.strftime("%a %H:%M:%S UTC")
        self.on_step(Step("casework", "appointment scheduled", f"{local}; appointment.scheduled published"))

        def planned() -> list[dict[str, Any]] | None:
            response = requests.get(f"{self.urls['notifications']}/v1/appointments/{out.appointment_id}/reminders",
                                    headers={"Authorization": f"Bearer {supervisor}"}, timeout=20)
            if response.status_code == 404:
                return None  # the event is still on its way
            if response.status_code != 200:
                raise DemoFailed(f"notifications: reminders answered {response.status_code}: {response.text[:800]}")
            return response.json()  # type: ignore[no-any-return]

        reminders = _wait(planned, "reminder planned in notifications")
        due = [r for r in reminders if r["status"] in ("scheduled", "queued")]
        if not due:
            raise DemoFailed(f"no reminder will be sent: {[(r['status'], r['skip_reason']) for r in reminders]}")
        first = due[0]
        wait_s = (dt.datetime.fromisoformat(first["send_at"]) - dt.datetime.now(dt.UTC)).total_seconds()
        if wait_s > 120:
            raise DemoFailed(f"the reminder is due at {first['send_at']} (quiet hours or reminder offsets of the "
                             "running suite); `make run` turns quiet hours off for the demo")
        self.on_step(Step("notifications", "reminder planned",
                          f"{first['offset_minutes'] // 60} h before, due in {max(wait_s, 0):.0f} s, by email"))

        def queued() -> dict[str, Any] | None:
            return next((r for r in planned() or [] if r["id"] == first["id"] and r["delivery_id"]), None)

        out.reminder = _wait(queued, "reminder queued for delivery", timeout=wait_s + 60)
        admin = self.token(agency=self.agency, roles=("admin",), sub="demo-admin")

        def delivered() -> dict[str, Any] | None:
            delivery = self._call("GET", "notifications", f"/v1/deliveries/{out.reminder['delivery_id']}",
                                  admin, 200).json()
            if delivery["status"] == "failed":
                raise DemoFailed(f"the reminder email failed: {delivery['last_error']}")
            return delivery if delivery["status"] == "delivered" else None

        out.reminder_delivery = _wait(delivered, "reminder email delivered", timeout=60)
        detail = f"to {out.reminder_delivery['recipient']}, attempt {out.reminder_delivery['attempts']}"
        if self.mailbox is not None:
            mailbox = self.mailbox

            def caught() -> EmailMessage | None:  # the channel uses the delivery id as the Message-ID
                return next((m for m in mailbox() if out.reminder_delivery["id"] in str(m.get("Message-ID"))), None)

            out.reminder_mail = _wait(caught, "reminder in the mail catcher", timeout=30)
            detail = f"\"{out.reminder_mail['Subject']}\" caught for {PARTICIPANT_EMAIL}"
        self.on_step(Step("notifications", "appointment reminder emailed", detail))


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--agency", default="stl-cao", show_default=True)
def demo(agency: str) -> None:
    """Walk one referral through the running suite (start it first with `make run`)."""
    from rich.console import Console
    from rich.table import Table

    # Settings only: importing the services' nameko modules would patch eventlet into this plain client.
    from services.notifications.settings import NotificationSettings
    from shared.auth import SecretMissing, existing_secret, issue_token
    from shared.config import SERVICE_SETTINGS, SERVICES, CommonSettings
    from shared.mailcatcher import read_mailbox

    console = Console()
    urls = {}
    for name in SERVICES:
        urls[name] = f"http://127.0.0.1:{SERVICE_SETTINGS[name]().http_port}"
        try:
            requests.get(urls[name] + "/readyz", timeout=2).raise_for_status()
        except requests.RequestException:
            raise click.ClickException(f"{name} is not ready at {urls[name]}; start it with `make run`") from None
    common = CommonSettings()
    try:
        existing_secret(common)  # a new secret would sign tokens the running suite rejects
    except SecretMissing as exc:
        raise click.ClickException(str(exc)) from None
    table = Table(title="One referral through the diversion suite")
    for column in ("#", "service", "step", "detail"):
        table.add_column(column)
    steps: list[Step] = []

    def show(step: Step) -> None:
        steps.append(step)
        console.print(f"[bold]{step.service:<13}[/bold] {step.title}  [dim]{step.detail}[/dim]")

    def token(**claims: Any) -> str:
        return issue_token(common, **claims)

    # Same environment as `make run`: its shortest reminder offset, and its mail catcher unless SMTP is real.
    lead = min(NotificationSettings().reminder_policy().offsets)
    mailbox = None
    if "DIVERSION_NOTIFICATIONS_SMTP_HOST" not in os.environ:
        directory = common.data_dir / "mail"

        def mailbox() -> list[EmailMessage]:
            return read_mailbox(directory)

    try:
        Walkthrough(urls, token, show, agency, reminder_lead=lead, mailbox=mailbox).run()
    except DemoFailed as exc:
        raise click.ClickException(str(exc)) from None
    for number, step in enumerate(steps, 1):
        table.add_row(str(number), step.service, step.title, step.detail)
    console.print(table)
    console.print(json.dumps({"steps": len(steps)}))
