"""Bundled agency ruleset packs (YAML data), loaded with `services.intake.domain.ruleset`."""
