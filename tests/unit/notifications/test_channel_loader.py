"""Channel plugins come from the `diversion.channels` entry points, built from settings."""

from __future__ import annotations

import pytest

from services.notifications.channels import (
    BUILTIN_CHANNELS,
    ChannelSettings,
    UnknownChannel,
    build_channels,
    channel_factories,
)
from services.notifications.channels.sms import SmsProviderNotConfigured
from services.notifications.channels.webhook import WebhookChannel
from shared.config import ConfigError, load_settings


def test_the_four_built_in_channels_are_available() -> None:
    factories = channel_factories()
    assert set(BUILTIN_CHANNELS) <= set(factories)
    assert factories["webhook"] is WebhookChannel


def test_channels_are_built_from_notifications_settings() -> None:
    env = {
        "DIVERSION_NOTIFICATIONS_WEBHOOK_TIMEOUT_SECONDS": "3",
        "DIVERSION_NOTIFICATIONS_WEBHOOK_ALLOW_LIST": "127.0.0.1, 10.1.0.0/16,hooks.lan",
        "DIVERSION_NOTIFICATIONS_SMTP_HOST": "mail.example",
        "DIVERSION_NOTIFICATIONS_SMTP_STARTTLS": "true",
        "DIVERSION_NOTIFICATIONS_SMS_ACCOUNT_SID": "AC123",
        "DIVERSION_NOTIFICATIONS_SMS_AUTH_TOKEN": "token",
        "DIVERSION_NOTIFICATIONS_SMS_FROM": "(314) 555-0100",
    }
    settings = load_settings("notifications", env=env, extra_class=ChannelSettings)
    channels = build_channels(settings)
    assert {channel.name for channel in channels.values()} >= {"webhook", "email", "sms", "amqp_feed"}
    webhook = channels["webhook"]
    assert isinstance(webhook, WebhookChannel)
    assert webhook.timeout_seconds == 3
    assert webhook.allow_list.hosts == {"hooks.lan"} and len(webhook.allow_list.networks) == 2


def test_sms_without_provider_credentials_stops_at_start_with_the_variables_named() -> None:
    settings = load_settings("notifications", env={}, extra_class=ChannelSettings)
    with pytest.raises(SmsProviderNotConfigured, match="SMS_ACCOUNT_SID"):
        build_channels(settings, ["sms"])


def test_unknown_channel_name_is_reported_with_the_available_ones() -> None:
    settings = load_settings("notifications", env={}, extra_class=ChannelSettings)
    with pytest.raises(UnknownChannel, match="webhook"):
        build_channels(settings, ["pigeon"])


def test_bad_channel_setting_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="DIVERSION_NOTIFICATIONS_SMS_BASE_URL"):
        load_settings(
            "notifications",
            env={"DIVERSION_NOTIFICATIONS_SMS_BASE_URL": "ftp://x"},
            extra_class=ChannelSettings,
        )
