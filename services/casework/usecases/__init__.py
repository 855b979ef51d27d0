"""casework's service layer: plain functions `(session, ..., parsed input) -> result`, one module per resource.

They load and change rows in the caller's session (every `select()` and `session.add` of casework lives
here) and hand events to `emit` (the outbox), so the caller commits state and events in one transaction.
The rules are in `domain/`; rows become domain objects in `mapping.py`. Nothing here knows about nameko, and
HTTP only as far as `paginate()` reads a page's cursor from the `Call`: a row that is not there is
`common.Missing`, which service.py's problem table maps to 404.
"""
