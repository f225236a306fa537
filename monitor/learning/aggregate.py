"""What was learned, as aggregates only: per owner, name and type, a count, first and
last seen, the rcodes and the CNAME targets; and the hours each owner was heard.

No client address is kept: a message is attributed (``owners``) and counted, and then
forgotten. The aggregates are bounded in size, and are what ``learning.state`` holds
across restarts (``as_json``/``from_json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.learning.messages import Message
from monitor.learning.owners import Owner

MAX_KEYS = 1_000_000  # (owner, name, type) kept at most; further new ones are counted only
MAX_CNAMES = 8  # CNAME targets kept per key
HOUR = 3600.0
FAILED = frozenset({"NXDOMAIN", "SERVFAIL"})  # rcodes of a name that does not work

Key = tuple[Owner, str, str]  # (owner, name, type)


@dataclass(slots=True)
class Seen:
    """How one owner asked one name and type. Small on purpose, as there may be a million:
    no dict or list where a name comes with one rcode and no CNAME, the common case."""

    count: int = 0
    first: float = float("inf")
    last: float = 0.0
    rcode: str | None = None  # the one rcode seen so far (None: none, or several) …
    rcode_count: int = 0  # … and how often
    several: dict[str, int] | None = None  # every rcode, once more than one was seen
    cnames: tuple[str, ...] = ()
    failed_last: float = 0.0  # when it last failed (FAILED), so old failures age out

    @property
    def rcodes(self) -> dict[str, int]:
        """Each rcode seen, with how often."""
        if self.several is not None:
            return self.several
        return {self.rcode: self.rcode_count} if self.rcode is not None else {}

    def add(self, message: Message) -> None:
        self.count += 1
        self.first = min(self.first, message.time)
        self.last = max(self.last, message.time)
        if message.rcode is not None:
            self.add_rcode(message.rcode, 1)
            if message.rcode in FAILED:
                self.failed_last = max(self.failed_last, message.time)
        for target in message.cnames:
            if target not in self.cnames and len(self.cnames) < MAX_CNAMES:
                self.cnames = (*self.cnames, target)

    def add_rcode(self, rcode: str, count: int) -> None:
        if self.several is not None:
            self.several[rcode] = self.several.get(rcode, 0) + count
        elif self.rcode is None:
            self.rcode, self.rcode_count = rcode, count
        elif rcode == self.rcode:
            self.rcode_count += count
        else:
            self.several = {self.rcode: self.rcode_count, rcode: count}
            self.rcode, self.rcode_count = None, 0


@dataclass
class Aggregates:
    """Everything learned so far, from every source."""

    seen: dict[Key, Seen] = field(default_factory=dict)
    hours: dict[Owner, set[int]] = field(default_factory=dict)  # hours with traffic
    newest: float = 0.0  # the newest message read
    dropped: int = 0  # messages of new keys beyond MAX_KEYS

    def add(self, owner: Owner, message: Message) -> None:
        key = (owner, message.name, message.type)
        found = self.seen.get(key)
        if found is None:
            if len(self.seen) >= MAX_KEYS:
                self.dropped += 1
                return
            found = self.seen[key] = Seen()
        found.add(message)
        self.hours.setdefault(owner, set()).add(int(message.time // HOUR))
        self.newest = max(self.newest, message.time)

    def owners(self) -> set[Owner]:
        return set(self.hours)

    def heard_since(self, owner: Owner, since: float) -> set[int]:
        """The days back from the newest message (0: the last 24 hours) with traffic from
        ``owner`` since ``since``."""
        return {
            int((self.newest - hour * HOUR) // 86400)
            for hour in self.hours.get(owner, ())
            if (hour + 1) * HOUR > since
        }

    # --- the state file ------------------------------------------------------------------

    def as_json(self) -> dict[str, Any]:
        owners = sorted(self.owners() | {k[0] for k in self.seen}, key=Owner.sort_key)
        index = {owner: i for i, owner in enumerate(owners)}
        return {
            "version": 1,
            "newest": self.newest,
            "owners": [[o.service, o.backup, o.client] for o in owners],
            "seen": [
                [
                    index[o],
                    name,
                    rdtype,
                    s.count,
                    s.first,
                    s.last,
                    s.rcodes,
                    list(s.cnames),
                    s.failed_last,
                ]  # fmt: skip
                for (o, name, rdtype), s in self.seen.items()
            ],
            "hours": {str(index[o]): sorted(h) for o, h in self.hours.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Aggregates:
        """Aggregates read back; ValueError when the data is not a state file of ours."""
        try:
            if data.get("version") != 1:
                raise ValueError("not a dnsmon learning state (version 1)")
            owners = [Owner(*entry) for entry in data["owners"]]
            found = cls(newest=float(data["newest"]))
            for i, name, rdtype, count, first, last, rcodes, cnames, *failed in data["seen"]:
                seen = Seen(int(count), float(first), float(last),
                            cnames=tuple(str(c) for c in cnames))  # fmt: skip
                for rcode, times in rcodes.items():
                    seen.add_rcode(str(rcode), int(times))
                # A state from before failures were timed: its last failure is unknown.
                seen.failed_last = float(failed[0]) if failed else (
                    seen.last if seen.rcodes.keys() & FAILED else 0.0)  # fmt: skip
                found.seen[(owners[i], str(name), str(rdtype))] = seen
            for i, hours in data["hours"].items():
                found.hours[owners[int(i)]] = {int(h) for h in hours}
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ValueError(f"not a dnsmon learning state: {exc}") from exc
        return found
