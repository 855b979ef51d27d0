"""casework's HTTP endpoints, one mixin per resource, composed into `CaseworkService` (service.py, which keeps
the event handlers and the timer).

Each method parses the call, calls a use case (`services/casework/usecases/`), audits and dumps; no SQL here.
"""
