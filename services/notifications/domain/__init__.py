"""Delivery policy of the notifications service: plain Python, no broker, database or network.

Retry schedule, reminder planning, contact preferences and SMS keywords, phone numbers.
"""
