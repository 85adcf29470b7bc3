"""Where a document download may connect (DESIGN.md's ``download_url`` rule, tightened).

The URL was checked against ``PORTAL_BASE_URL`` at the door and is checked again before the
fetch; this module decides the *address*. The host is resolved once, every answer is classed,
and the connection goes to the address that was checked (:mod:`shared.documents.transport`), so
a DNS answer that changes between a check and a connect (DNS rebinding) cannot move it.

Classes, first match wins (tables below):

* **forbidden**, always refused, even for the portal's own host: link-local ``169.254.0.0/16``
  and ``fe80::/10`` (where cloud metadata services live), the AWS IPv6 metadata address
  ``fd00:ec2::254``, Alibaba's ``100.100.100.200``, unspecified, multicast, broadcast, and every
  other address that is neither global nor in the two classes below;
* **loopback** (``127.0.0.0/8``, ``::1``) and **private** (RFC 1918, carrier-grade NAT
  ``100.64.0.0/10``, unique-local ``fc00::/7``): refused unless the configured portal itself
  is on such an address, i.e. ``PORTAL_BASE_URL`` names an IP literal of that class (or
  ``localhost``, which is loopback). A portal configured by a DNS name is a public service:
  its name answering a private address is what an attacker who controls that DNS would do;
* **global**: allowed.

IPv4 addresses embedded in IPv6 ones (IPv4-mapped, NAT64, 6to4) are classed by the embedded
address, Teredo is forbidden. If any answer of the resolution is refused the download is
refused (a portal name that also answers a metadata address is an attack or a mistake, both
worth an operator's look), with :class:`~shared.errors.DocumentRefused`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

from shared.errors import DocumentRefused, PortalUnavailable

IPAddress = IPv4Address | IPv6Address

#: Resolves a host name to its addresses (text), as ``getaddrinfo`` would; tests inject theirs.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


class AddressClass(StrEnum):
    GLOBAL = "global"
    PRIVATE = "private"
    LOOPBACK = "loopback"
    FORBIDDEN = "forbidden"


def _networks(*cidrs: str) -> tuple[IPv4Network | IPv6Network, ...]:
    return tuple(ip_network(cidr) for cidr in cidrs)


#: Looked at in this order; an address in none of them is global if ``is_global``, else forbidden.
CLASS_TABLE: tuple[tuple[AddressClass, tuple[IPv4Network | IPv6Network, ...]], ...] = (
    (
        AddressClass.FORBIDDEN,
        _networks(
            "169.254.0.0/16",  # link-local: 169.254.169.254 is the metadata service of most clouds
            "fe80::/10",  # IPv6 link-local
            "fd00:ec2::254/128",  # AWS IPv6 metadata
            "100.100.100.200/32",  # Alibaba Cloud metadata (inside carrier-grade NAT space)
            "0.0.0.0/8",  # "this network"
            "::/128",  # unspecified
            "224.0.0.0/4",  # multicast
            "ff00::/8",
            "240.0.0.0/4",  # reserved, and broadcast
        ),
    ),
    (AddressClass.LOOPBACK, _networks("127.0.0.0/8", "::1/128")),
    (
        AddressClass.PRIVATE,
        _networks("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"),
    ),
)


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


_NAT64 = ip_network("64:ff9b::/96")


def classify(address: IPAddress) -> AddressClass:
    """The class of one address (see the module docstring)."""
    if isinstance(address, IPv6Address):
        if address.teredo is not None:
            return AddressClass.FORBIDDEN
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return classify(embedded)
    for address_class, networks in CLASS_TABLE:
        if any(address in network for network in networks):
            return address_class
    return AddressClass.GLOBAL if address.is_global else AddressClass.FORBIDDEN


def parse_literal(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is one (brackets and a zone id allowed), else None."""
    try:
        return ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The operating system's resolver, without blocking the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which address classes a download may connect to, and how host names are resolved."""

    allowed: frozenset[AddressClass]
    resolver: Resolver = system_resolver

    @classmethod
    def for_portal(cls, portal_base_url: str, *, resolver: Resolver = system_resolver) -> AddressPolicy:
        """Global addresses, plus the portal's own class when it is configured on a private or
        loopback IP literal (or ``localhost``)."""
        host = urlsplit(portal_base_url).hostname or ""
        literal = parse_literal(host)
        own = (
            classify(literal)
            if literal is not None
            else (AddressClass.LOOPBACK if host.lower() == "localhost" else AddressClass.GLOBAL)
        )
        allowed = {AddressClass.GLOBAL}
        if own in (AddressClass.PRIVATE, AddressClass.LOOPBACK):
            allowed.add(own)
        return cls(frozenset(allowed), resolver)

    def check(self, address: IPAddress) -> None:
        """Raise :class:`DocumentRefused` unless a download may connect to ``address``."""
        address_class = classify(address)
        if address_class not in self.allowed:
            raise DocumentRefused(
                f"the portal's host resolves to {address} ({address_class.value} address): "
                "downloads never connect there"
            )

    async def pin(self, host: str, port: int) -> IPAddress:
        """Resolve ``host`` once, check every answer, and return the address to connect to.

        A resolution that fails is transient (:class:`PortalUnavailable`): DNS blips happen;
        an answer that is refused is permanent (:class:`DocumentRefused`).
        """
        literal = parse_literal(host)
        if literal is not None:
            self.check(literal)
            return literal
        try:
            answers = await self.resolver(host, port)
        except OSError as exc:
            raise PortalUnavailable(f"could not resolve the portal's host ({type(exc).__name__})") from exc
        addresses = [parsed for parsed in (parse_literal(a) for a in answers) if parsed is not None]
        if not addresses:
            raise PortalUnavailable("the portal's host resolved to no address")
        for address in addresses:
            self.check(address)
        return addresses[0]
