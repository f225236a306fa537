"""serve learning from real resolvers: Unbound and BIND connect to its dnstap socket
(the Frame Streams handshake is theirs), clients ask from their own addresses, and the
counts and findings follow — Unbound under a load of a thousand questions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from exporter import Exporter
from servers import BindResolver, StartServer, Unbound, ask, free_port
from traffic import BACKUP_HOST, SERVICE_HOST, forwarding, learn_authority

pytestmark = pytest.mark.integration
LOAD = 1000


def config(tmp_path: Path, socket: Path) -> Path:
    document = {
        "defaults": {"interval": "1s", "timeout": "200ms", "attempts": 1},
        "servers": [{"name": "resolver-a", "address": "127.0.0.1", "port": free_port()}],
        "names": [{"name": "ehr-db.region.internal"}],
        "services": [{"name": "ehr", "hosts": [SERVICE_HOST],
                      "depends_on": ["ehr-db.region.internal"],
                      "backups": [{"name": "copy", "hosts": [BACKUP_HOST], "depends_on": []}]}],
        "learning": {"dnstap": [f"unix:{socket}"], "state": str(tmp_path / "learned.json")},
    }  # fmt: skip
    path = tmp_path / "probes.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("kind", ["unbound", "bind"])
def test_a_real_resolver_sends_dnstap_to_serve(
    tmp_path: Path, start_server: StartServer, kind: str
) -> None:
    socket = tmp_path / "dnstap.sock"
    authority = start_server(learn_authority())
    with Exporter(config(tmp_path, socket), tmp_path) as exporter:
        exporter.wait_for_log("listening for dnstap")
        if kind == "unbound":
            resolver = start_server(Unbound(forwarding(authority), dnstap_socket=socket))
        else:
            resolver = start_server(BindResolver(forwarding(authority), dnstap_socket=socket))
        load = LOAD if kind == "unbound" else 50
        for _ in range(load):
            ask(resolver, "ehr-db.region.internal", source=SERVICE_HOST)
        ask(resolver, "www.region.internal", source=BACKUP_HOST)  # a CNAME to ehr-db
        source = f"unix:{socket}"
        samples = exporter.wait_for_metric(
            "dnsmon_learned_messages_total", load + 1, source=source, result="kept"
        )
        assert samples.value("dnsmon_learned_messages_total", source=source,
                             result="malformed") == 0  # fmt: skip
        exporter.wait_for_metric(
            "dnsmon_learned_dns_free_backup_queries_total", 1, service="ehr", backup="copy"
        )
