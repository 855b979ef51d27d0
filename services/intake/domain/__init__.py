"""Intake's domain core: referral models, eligibility criteria, ruleset packs, screening and decisions.

Plain Python (pydantic only): no nameko, no database, no HTTP, so every rule can be unit tested.
"""
