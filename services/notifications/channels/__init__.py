"""Notification channels (webhook, AMQP partner feed, email, SMS) behind one `send(message)` interface."""

from services.notifications.channels.base import AttemptResult, AttemptStatus, Channel, Message
from services.notifications.channels.loader import (
    BUILTIN_CHANNELS,
    ChannelPluginBroken,
    UnknownChannel,
    build_channels,
    channel_factories,
)
from services.notifications.channels.settings import ChannelSettings
from services.notifications.channels.ssrf import TargetRefused, check_target

__all__ = [
    "BUILTIN_CHANNELS",
    "AttemptResult",
    "AttemptStatus",
    "Channel",
    "ChannelPluginBroken",
    "ChannelSettings",
    "Message",
    "TargetRefused",
    "UnknownChannel",
    "build_channels",
    "channel_factories",
    "check_target",
]
