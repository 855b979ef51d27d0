"""Monkey-patch eventlet before anything else is imported: nameko 2.14's pytest plugin no longer does."""

import eventlet  # noqa: E402

import shared  # noqa: F401 - installs the warning filter for eventlet's deprecation notice first

eventlet.monkey_patch()
