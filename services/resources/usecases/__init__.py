"""resources' service layer: one module per resource, between the nameko methods and the tables.

`directory` (organizations, services, locations, taxonomy terms; editing a listing), `search` (the
ranked service search), `referrals` (closed-loop service referrals), `escalation` (referrals a partner
left unanswered) and `hsds` (the HSDS 3.0 read profile). Functions take the worker's session (and the
outbox as `emit` and the audit log where they record events or audit rows) and leave the commit to the caller.
"""
