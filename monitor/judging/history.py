"""Since when: the round in which each service, backup, name and cause entered its state.

``serve`` and ``watch`` keep one ``History`` for as long as they run; a single ``check``
has none and reports ``since: null``. A restart starts a fresh history, and the report
says when it began (``tracking_since``), so nobody mistakes "since the restart" for
"since the fault".
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.judging.causes import Cause
from monitor.judging.health import Health

StateKey = tuple[str, ...]  # ("service", name), ("backup", "svc/backup"), ("cause", kind, target)
ACTIVE = "active"


def state_keys(health: Health, causes: Iterable[Cause]) -> dict[StateKey, str]:
    """Every tracked thing and its state now."""
    states: dict[StateKey, str] = {}
    for name, service in health.services.items():
        states[("service", name)] = service.state.value
        for backup in service.backups:
            states[("backup", f"{name}/{backup.name}")] = backup.state.value
    for key, found in health.names.items():
        states[("name", f"{key[0]} {key[1]}")] = found.state.value
        states[("consistency", f"{key[0]} {key[1]}")] = str(found.consistent)
    for cause in causes:
        states[("cause", *cause.key)] = ACTIVE
    return states


class History:
    """When each thing entered its current state, as far as this process has seen."""

    def __init__(self, started_at: float) -> None:
        self.started_at = started_at
        self._seen: dict[StateKey, tuple[str, float]] = {}

    def observe(self, round_started: float, states: dict[StateKey, str]) -> dict[StateKey, float]:
        """Take one round's states; return since when each has held.

        A state that changed, or a thing seen for the first time, dates from this round;
        things no longer there (a cause that cleared) are forgotten, so if they come back
        they date from their return.
        """
        seen: dict[StateKey, tuple[str, float]] = {}
        for key, state in states.items():
            old = self._seen.get(key)
            seen[key] = old if old is not None and old[0] == state else (state, round_started)
        self._seen = seen
        return {key: since for key, (_, since) in seen.items()}
