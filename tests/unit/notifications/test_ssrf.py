"""SSRF guard for webhook targets: internal addresses refused unless allow-listed."""

from __future__ import annotations

import pytest

from services.notifications.channels.ssrf import TargetRefused, check_target


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/hook", "private"),
        ("http://192.168.1.1/hook", "private"),
        ("http://172.16.5.4/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://[fc00::1]/hook", "private"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://240.0.0.1/hook", "reserved"),
        ("http://100.64.0.1/hook", "not globally routable"),
        ("http://[::ffff:10.0.0.1]/hook", "private"),
    ],
)
def test_internal_addresses_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused, match=reason):
        check_target(url)


def test_a_name_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(TargetRefused, match="localhost .* loopback"):
        check_target("http://localhost:9000/hook")


def test_every_resolved_address_is_checked() -> None:
    # Stands in for DNS (outside this system): one public and one private answer.
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.1.2.3"]

    with pytest.raises(TargetRefused, match="10.1.2.3"):
        check_target("https://partner.example/hook", resolver=resolver)


def test_public_address_is_allowed() -> None:
    assert check_target("https://93.184.215.14/hook") == ["93.184.215.14"]


def test_allow_list_by_address_host_or_network_lets_an_internal_target_through() -> None:
    assert check_target("http://127.0.0.1:8080/hook", ["127.0.0.1"]) == ["127.0.0.1"]
    assert check_target("http://10.1.2.3/hook", ["10.1.0.0/16"]) == ["10.1.2.3"]
    assert check_target("http://localhost:9000/hook", ["LOCALHOST"])
    with pytest.raises(TargetRefused):
        check_target("http://10.2.0.1/hook", ["10.1.0.0/16"])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://93.184.215.14/x", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://93.184.215.14/", "only http and https"),
        ("https:///nohost", "no host"),
        ("https://user:pw@93.184.215.14/", "credentials"),
        ("http://[::1/hook", "not a valid URL"),
    ],
)
def test_non_http_or_malformed_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(TargetRefused, match=message):
        check_target(url)


def test_unresolvable_host_is_refused() -> None:
    with pytest.raises(TargetRefused, match="does not resolve"):
        check_target("https://no-such-host.invalid/hook")
