"""Find channel plugins (entry point group `diversion.channels`), falling back to the built-ins.

The built-ins are always available even when the package metadata is missing (running from a
source tree); an installed plugin with a built-in's name replaces it, which is how an agency
swaps, say, the SMS channel without forking.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, cast

from services.notifications.channels.base import Channel, ChannelFactory

if TYPE_CHECKING:
    from collections.abc import Iterable

    from shared.config import Settings

GROUP = "diversion.channels"
BUILTIN_CHANNELS: dict[str, str] = {
    "webhook": "services.notifications.channels.webhook:WebhookChannel",
    "amqp_feed": "services.notifications.channels.amqp_feed:AmqpFeedChannel",
    "email": "services.notifications.channels.email:EmailChannel",
    "sms": "services.notifications.channels.sms:SmsChannel",
}


class ChannelPluginBroken(RuntimeError):
    """A channel plugin could not be imported or does not look like a channel."""


class UnknownChannel(KeyError):
    """No built-in or installed channel has this name."""


def _import(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def _checked(name: str, factory: Any, origin: str) -> ChannelFactory:
    if not callable(getattr(factory, "from_settings", None)):
        raise ChannelPluginBroken(f"channel plugin {name!r} ({origin}) has no from_settings(settings)")
    if not callable(getattr(factory, "send", None)):
        raise ChannelPluginBroken(f"channel plugin {name!r} ({origin}) has no send(message)")
    return cast(ChannelFactory, factory)


def channel_factories() -> dict[str, ChannelFactory]:
    """Every available channel by name: built-ins, overridden by installed entry points."""
    targets = dict(BUILTIN_CHANNELS)
    loaders: dict[str, Any] = {}
    for entry_point in entry_points(group=GROUP):
        targets[entry_point.name] = entry_point.value
        loaders[entry_point.name] = entry_point
    factories: dict[str, ChannelFactory] = {}
    for name, target in targets.items():
        try:
            factory = loaders[name].load() if name in loaders else _import(target)
        except (ImportError, AttributeError) as exc:
            raise ChannelPluginBroken(f"channel plugin {name!r} ({target}) cannot be loaded: {exc}") from exc
        factories[name] = _checked(name, factory, target)
    return factories


def build_channels(settings: Settings, names: Iterable[str] | None = None) -> dict[str, Channel]:
    """Instantiate the named channels (all available ones when `names` is None) from settings."""
    factories = channel_factories()
    wanted = list(factories) if names is None else list(names)
    channels: dict[str, Channel] = {}
    for name in wanted:
        if name not in factories:
            raise UnknownChannel(f"no channel named {name!r}; available: {', '.join(sorted(factories))}")
        channels[name] = factories[name].from_settings(settings)
    return channels
