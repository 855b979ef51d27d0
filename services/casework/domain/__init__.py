"""Casework domain rules in plain Python: case lifecycle, assignment, plans, supervision, consent, reports.

Nothing here imports nameko, SQLAlchemy or HTTP code; the service layer maps these models to tables and
the events they return to the messaging catalog.
"""
