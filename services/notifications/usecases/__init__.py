"""notifications' service layer: one module per resource, between the nameko methods and the tables.

`subscriptions` (partners' and the agency's webhooks and feeds), `deliveries` (the delivery log and
replays), `people` (staff contacts, participants' contact preferences, SMS opt-outs, reminders),
`templates` (the agency's own texts), `fanout` (consumed events into deliveries and reminders) and
`dispatch` (the delivery worker's claim and record steps). Functions take a session and leave the
commit to the caller, except the worker's steps, which are their own short transactions.
"""
