"""intake's service layer, one module per resource: service.py parses a call, calls one of these, dumps the result."""
