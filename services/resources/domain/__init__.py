"""Resources' rules in plain Python (no nameko, no SQL): referral statuses, search inputs, opening hours."""
