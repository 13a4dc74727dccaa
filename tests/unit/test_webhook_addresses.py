"""Webhook URLs: well-formed http(s) only, and no private address unless allow-listed."""

from __future__ import annotations

import ipaddress

import pytest

from backburner.webhooks.addresses import AddressRefused, Allowance, check_url, resolve_allowed


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/hook", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("https:///hook", "no host"),
        ("https://user:pw@example.com/hook", "user name or password"),
        ("https://example.com:99999/hook", "not a valid URL"),
        ("https://example.com/a b", "spaces"),
        ("https://example.com/" + "a" * 2048, "longer than"),
    ],
)
def test_malformed_urls_are_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(AddressRefused, match=message):
        check_url(url)


def test_a_well_formed_url_gives_its_host_and_port() -> None:
    assert check_url("https://hooks.example.com/x?y=1") == ("hooks.example.com", 443)
    assert check_url("http://[2001:db8::1]:8080/x") == ("2001:db8::1", 8080)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # the cloud metadata service
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "[::1]",
        "[fe80::1]",
        "[fc00::1]",
        "[::ffff:127.0.0.1]",  # IPv4-mapped loopback
        "localhost",
    ],
)
async def test_private_loopback_and_link_local_addresses_are_refused(host: str) -> None:
    with pytest.raises(AddressRefused, match="BACKBURNER_WEBHOOK_ALLOW"):
        await resolve_allowed(f"http://{host}/hook", Allowance())


async def test_public_addresses_pass() -> None:
    assert [str(a) for a in await resolve_allowed("https://8.8.8.8/h", Allowance())] == ["8.8.8.8"]
    await resolve_allowed("https://[2606:4700:4700::1111]/h", Allowance())


async def test_the_allow_list_admits_networks_and_host_names() -> None:
    allowance = Allowance(["127.0.0.0/8", "10.0.0.0/8", "hooks.internal"])
    await resolve_allowed("http://127.0.0.1:9000/h", allowance)
    await resolve_allowed("http://10.9.9.9/h", allowance)
    with pytest.raises(AddressRefused):
        await resolve_allowed("http://192.168.0.1/h", allowance)
    private = ipaddress.ip_address("192.168.0.9")
    assert Allowance(["hooks.internal."]).permits("HOOKS.internal", private)
    assert Allowance(["::1"]).permits("x", ipaddress.ip_address("::1"))


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(AddressRefused, match="does not resolve"):
        await resolve_allowed("http://bad..host/h", Allowance())
