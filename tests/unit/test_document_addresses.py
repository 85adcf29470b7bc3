"""Where a document download may connect: the address classes, the portal's own exception, and
one resolution whose every answer is checked."""

from __future__ import annotations

from ipaddress import ip_address

import httpx
import pytest

from shared.documents.addresses import AddressClass, AddressPolicy, classify
from shared.documents.transport import PinnedTransport
from shared.errors import DocumentRefused, PortalUnavailable


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("169.254.169.254", AddressClass.FORBIDDEN),
        ("169.254.0.1", AddressClass.FORBIDDEN),
        ("fd00:ec2::254", AddressClass.FORBIDDEN),
        ("fe80::1", AddressClass.FORBIDDEN),
        ("100.100.100.200", AddressClass.FORBIDDEN),
        ("0.0.0.0", AddressClass.FORBIDDEN),  # noqa: S104 (an address classed, not bound)
        ("::", AddressClass.FORBIDDEN),
        ("224.0.0.1", AddressClass.FORBIDDEN),
        ("255.255.255.255", AddressClass.FORBIDDEN),
        ("192.0.2.10", AddressClass.FORBIDDEN),  # documentation range: neither global nor ours
        ("::ffff:169.254.169.254", AddressClass.FORBIDDEN),  # IPv4-mapped
        ("64:ff9b::a9fe:a9fe", AddressClass.FORBIDDEN),  # NAT64 of 169.254.169.254
        ("2002:a9fe:a9fe::1", AddressClass.FORBIDDEN),  # 6to4 of 169.254.169.254
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", AddressClass.FORBIDDEN),  # Teredo
        ("127.0.0.1", AddressClass.LOOPBACK),
        ("127.8.9.10", AddressClass.LOOPBACK),
        ("::1", AddressClass.LOOPBACK),
        ("::ffff:127.0.0.1", AddressClass.LOOPBACK),
        ("10.1.2.3", AddressClass.PRIVATE),
        ("172.16.0.1", AddressClass.PRIVATE),
        ("192.168.1.1", AddressClass.PRIVATE),
        ("100.64.0.1", AddressClass.PRIVATE),
        ("fd12:3456::1", AddressClass.PRIVATE),
        ("93.184.216.34", AddressClass.GLOBAL),
        ("2606:2800:220:1:248:1893:25c8:1946", AddressClass.GLOBAL),
    ],
)
def test_every_address_falls_in_one_class(address, expected):
    assert classify(ip_address(address)) is expected


@pytest.mark.parametrize(
    ("base_url", "allowed"),
    [
        ("https://api.portal.example", {AddressClass.GLOBAL}),
        ("http://127.0.0.1:7072", {AddressClass.GLOBAL, AddressClass.LOOPBACK}),
        ("http://localhost:7072", {AddressClass.GLOBAL, AddressClass.LOOPBACK}),
        ("http://[::1]:7072", {AddressClass.GLOBAL, AddressClass.LOOPBACK}),
        ("https://10.0.4.7", {AddressClass.GLOBAL, AddressClass.PRIVATE}),
        ("https://93.184.216.34", {AddressClass.GLOBAL}),
        ("http://169.254.169.254", {AddressClass.GLOBAL}),  # a metadata "portal" gains nothing
    ],
)
def test_private_and_loopback_only_when_the_configured_portal_is_there(base_url, allowed):
    assert AddressPolicy.for_portal(base_url).allowed == allowed


def resolver_answering(*answers: str, calls: list[str] | None = None):
    async def resolve(host: str, port: int):
        if calls is not None:
            calls.append(f"{host}:{port}")
        return list(answers)

    return resolve


async def test_a_name_answering_the_metadata_address_is_refused_even_for_the_portals_host():
    policy = AddressPolicy.for_portal(
        "https://api.portal.example", resolver=resolver_answering("169.254.169.254")
    )
    with pytest.raises(DocumentRefused, match=r"169\.254\.169\.254 \(forbidden address\)"):
        await policy.pin("api.portal.example", 443)


async def test_a_metadata_address_is_refused_even_when_the_portal_is_local():
    policy = AddressPolicy.for_portal("http://localhost:7072", resolver=resolver_answering("169.254.169.254"))
    with pytest.raises(DocumentRefused):
        await policy.pin("localhost", 7072)


async def test_a_public_portal_name_answering_a_private_address_is_refused():
    policy = AddressPolicy.for_portal("https://api.portal.example", resolver=resolver_answering("10.0.0.5"))
    with pytest.raises(DocumentRefused, match="private address"):
        await policy.pin("api.portal.example", 443)


async def test_one_bad_answer_among_good_ones_refuses_the_download():
    policy = AddressPolicy.for_portal(
        "https://api.portal.example", resolver=resolver_answering("93.184.216.34", "169.254.169.254")
    )
    with pytest.raises(DocumentRefused):
        await policy.pin("api.portal.example", 443)


async def test_the_first_checked_answer_is_pinned_after_one_resolution():
    calls: list[str] = []
    policy = AddressPolicy.for_portal(
        "https://api.portal.example",
        resolver=resolver_answering("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", calls=calls),
    )
    assert await policy.pin("api.portal.example", 443) == ip_address("93.184.216.34")
    assert calls == ["api.portal.example:443"]


async def test_an_ip_literal_is_checked_without_a_lookup():
    calls: list[str] = []
    policy = AddressPolicy.for_portal("http://127.0.0.1:7072", resolver=resolver_answering(calls=calls))
    assert await policy.pin("127.0.0.1", 7072) == ip_address("127.0.0.1")
    with pytest.raises(DocumentRefused):
        await policy.pin("169.254.169.254", 80)
    assert calls == []


async def test_a_failed_resolution_is_transient():
    async def failing(host: str, port: int):
        raise OSError("Temporary failure in name resolution")

    policy = AddressPolicy.for_portal("https://api.portal.example", resolver=failing)
    with pytest.raises(PortalUnavailable):
        await policy.pin("api.portal.example", 443)
    empty = AddressPolicy.for_portal("https://api.portal.example", resolver=resolver_answering())
    with pytest.raises(PortalUnavailable):
        await empty.pin("api.portal.example", 443)


async def test_the_request_goes_to_the_checked_address_with_the_name_in_host_and_sni():
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    policy = AddressPolicy.for_portal(
        "https://api.portal.example", resolver=resolver_answering("93.184.216.34")
    )
    transport = PinnedTransport(policy, httpx.MockTransport(handler))
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get("https://api.portal.example/v1/documents/doc_1/content?sig=abc")
    [request] = seen
    assert str(request.url) == "https://93.184.216.34/v1/documents/doc_1/content?sig=abc"
    assert request.headers["host"] == "api.portal.example"
    assert request.extensions["sni_hostname"] == "api.portal.example"


async def test_a_refused_address_is_never_handed_to_the_connection():
    async def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be sent")

    policy = AddressPolicy.for_portal(
        "https://api.portal.example", resolver=resolver_answering("169.254.169.254")
    )
    async with httpx.AsyncClient(transport=PinnedTransport(policy, httpx.MockTransport(handler))) as client:
        with pytest.raises(DocumentRefused):
            await client.get("https://api.portal.example/v1/documents/doc_1/content")
