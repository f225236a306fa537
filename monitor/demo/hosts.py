"""The demo region's own machines asking the resolvers, each from its own address.

Their traffic is what the resolvers' dnstap tells ``serve`` (and ``dnsmon learn``): the
ward-list print server, a host of the paper-forms backup that the map says needs no
DNS, fetches the ward list through a name; a ward PC opens the record, and its search
list tries one name with the domain appended twice. Every address is in 127.0.0.0/8,
where Linux answers for all of it on the loopback interface.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.query
import dns.rcode

TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class Host:
    """A machine of the region and the names it looks up, again and again."""

    label: str
    address: str
    names: tuple[str, ...]


PRINT_SERVER = Host("the ward-list print server", "127.20.9.60", ("wardlist.region.internal",))
WARD_PC = Host(
    "a ward PC", "127.20.100.21", ("ehr.region.internal", "ehr.region.internal.region.internal")
)
HOSTS = (PRINT_SERVER, WARD_PC)


class Hosts:
    """Each host asks its names of ``resolver`` every ``interval`` seconds, until stopped;
    the last outcome of each (host, name) is kept: an rcode's name or ``timeout``."""

    def __init__(self, resolver: tuple[str, int], interval: float) -> None:
        self.resolver = resolver
        self.interval = interval
        self.outcomes: dict[tuple[str, str], str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dnsmon-demo-hosts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2 * TIMEOUT_SECONDS)

    def failing(self, host: Host) -> dict[str, str]:
        """The names ``host`` cannot resolve now, with what it got."""
        return {
            name: outcome
            for (address, name), outcome in list(self.outcomes.items())
            if address == host.address and outcome not in ("NOERROR", "NXDOMAIN")
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            for host in HOSTS:
                for name in host.names:
                    self.outcomes[host.address, name] = self._ask(host.address, name)
            self._stop.wait(self.interval)

    def _ask(self, source: str, name: str) -> str:
        query = dns.message.make_query(name, "A")
        address, port = self.resolver
        try:
            response = dns.query.udp(
                query, address, port=port, timeout=TIMEOUT_SECONDS, source=source
            )
        except dns.exception.Timeout:
            return "timeout"
        except (dns.exception.DNSException, OSError):
            return "error"
        return dns.rcode.to_text(response.rcode())
