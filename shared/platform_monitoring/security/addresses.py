"""IP addresses: parsing, normalising and the allowlist (Stripe's webhook senders always on it)."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

STRIPE_WEBHOOK_IPS_FILE = Path(__file__).with_name("stripe_webhook_ips.json")


def _stripe_webhook_ips() -> tuple[str, ...]:
    data = json.loads(STRIPE_WEBHOOK_IPS_FILE.read_text())
    return tuple(str(address) for address in data["WEBHOOKS"])


# Stripe's webhook senders (stripe_webhook_ips.json: Stripe's ips_webhooks.json, its source and date):
# on every allowlist, never blocked.
STRIPE_WEBHOOK_IPS = _stripe_webhook_ips()


# --- addresses ------------------------------------------------------------------------
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: Any) -> IpAddress:
    """An address in canonical form: IPv4-mapped IPv6 becomes IPv4; a zone or brackets are refused."""
    if not isinstance(text, str) or not text.strip() or len(text) > 64:
        raise ValueError("not an IP address")
    address = ipaddress.ip_address(text.strip())
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def normalise_ip(text: Any) -> str:
    """The canonical text of an address (`::FFFF:10.0.0.1` -> `10.0.0.1`, `2001:DB8:0::1` -> `2001:db8::1`)."""
    return str(parse_ip(text))


class Allowlist:
    """Addresses and CIDR ranges that are never blocked."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in entries:
            if not entry.strip():
                continue
            self.networks.append(ipaddress.ip_network(entry.strip(), strict=False))

    @classmethod
    def parse(cls, text: str | None) -> Allowlist:
        return cls(part for part in (text or "").split(",") if part.strip())

    def __contains__(self, ip: object) -> bool:
        try:
            address = parse_ip(ip)
        except ValueError:
            return False
        return any(address.version == net.version and address in net for net in self.networks)

    def __len__(self) -> int:
        return len(self.networks)
