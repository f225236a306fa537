"""A region of two resolvers on loopback, in-process: resolver-a answers, resolver-b has
stopped answering. For the checks an operator runs by hand during an upgrade."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dns.message

from tests.nameserver import TestNameserver, answer

# The config's own timeout and attempts: resolver-b holds a round 6 s with them.
CONFIG_TIMEOUT, CONFIG_ATTEMPTS = 3.0, 2


def _right(query: dns.message.Message) -> dns.message.Message:
    return answer(query, f"{query.question[0].name} 300 IN A 127.20.1.15")


def _silent(query: dns.message.Message) -> None:
    return None


@contextmanager
def silent_resolver_region(folder: Path) -> Iterator[tuple[Path, TestNameserver]]:
    """The config (in ``folder``) and resolver-b; ehr needs a name both resolvers are asked,
    pacs one listed for resolver-b only."""
    with TestNameserver(_right) as good, TestNameserver(_silent) as silent:
        config = folder / "probes.yaml"
        config.write_text(
            f"defaults: {{timeout: {CONFIG_TIMEOUT:g}s, attempts: {CONFIG_ATTEMPTS}}}\n"
            "servers:\n"
            f"  - {{name: resolver-a, address: 127.0.0.1, port: {good.port}}}\n"
            f"  - {{name: resolver-b, address: 127.0.0.1, port: {silent.port}}}\n"
            "names:\n"
            "  - {name: ehr-db.region.internal, expect: [127.20.1.15]}\n"
            "  - {name: pacs.region.internal, servers: [resolver-b]}\n"
            "services:\n"
            "  - {name: ehr, criticality: critical, depends_on: [ehr-db.region.internal]}\n"
            "  - {name: pacs, depends_on: [pacs.region.internal]}\n"
        )
        yield config, silent
