"""``impact`` at scale: names that fare alike in a what-if are judged once. Pure.

In an imagined round every answer follows from what is assumed to fail, so two names
fare exactly alike when they are asked of the same servers, live in the same zone
(and the same zone for shared fate), have the same types with or without expected
answers, and are both needed or both not. A config with ten thousand services often
has thirty thousand names but a few dozen such classes. ``reduce`` keeps one name per
class and points every ``depends_on`` at it; services and backups stay as they are, so
their states, runways and causes are those of the whole config, judged by the same
code. Only what names the names themselves (reasons, the shared names of a backup)
would name the stand-in: ``impact`` leaves those out of its summary, and ``--detail``
judges every name.

Kept apart, each in a class of its own: names assumed to fail (``--fail name:…``), and
names with a CNAME chain written in the config or on one (their answers depend on other
names). Names looked up by different client groups are in different classes.
Causes that count names or lookups count each class as many as it holds
(``Health.weights``); causes that name single names or queries (``NAMED``) would name
a stand-in, and ``impact`` then judges every name after all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace

from monitor.config import Config, Service
from monitor.judging.causes.world import CauseKind
from monitor.judging.graph import SERVICE_PREFIX, Graph, NameKey

Signature = tuple[object, ...]


def reduce(
    config: Config, graph: Graph, failed_names: Iterable[str] = ()
) -> tuple[Config, dict[str, int]]:
    """``config`` with one name per class, every ``depends_on`` pointing at it; and how
    many names each kept name stands for (``Health.weights``)."""
    needed = _needed(config)
    # Alone: names assumed to fail, and every link of a CNAME chain written in the config
    # (a chain through a stand-in would end there).
    alone = set(failed_names) | {n for chain in graph.static_chains.values() for n in chain}
    # With one client group, the names it looks up are the names needed: no need to ask.
    groups = ({g.name: graph.client_needs(g.name) for g in graph.client_groups}
              if len(graph.client_groups) > 1 else {})  # fmt: skip
    stand_in: dict[str, str] = {}
    first: dict[Signature, str] = {}
    for spec in config.names:
        name = spec.name.lower().rstrip(".")
        if name in stand_in:
            continue
        signature = _signature(graph, name, name in needed, name in alone, groups)
        stand_in[name] = first.setdefault(signature, name) if signature is not None else name
    kept = set(stand_in.values())
    names = tuple(n for n in config.names if n.name.lower().rstrip(".") in kept)
    services = tuple(_pointed(s, stand_in) for s in config.services)
    weights = Counter(stand_in.values())
    return replace(config, names=names, services=services), dict(weights)


def _signature(
    graph: Graph, name: str, needed: bool, alone: bool, groups: dict[str, frozenset[NameKey]]
) -> Signature | None:
    """What decides how ``name`` fares in a what-if; None: it forms a class alone."""
    keys = sorted(graph.keys_by_name.get(name, []))
    if alone or not keys or any(graph.static_chains.get(key) for key in keys):
        return None
    # The servers a name is asked of follow from its own list (or none) and its zone;
    # the client groups that look it up count it in their lookups.
    asked = tuple((key[1], graph.names[key].expect is None, graph.names[key].servers,
                   frozenset(group for group, needs in groups.items() if key in needs))
                  for key in keys)  # fmt: skip
    return (graph.zone_of(name), graph.fate_zone(name), needed, asked)


def _needed(config: Config) -> set[str]:
    """Every name some service or backup depends on."""
    found: set[str] = set()
    for service in config.services:
        for deps in (service.depends_on, *(b.depends_on for b in service.backups)):
            found.update(d.lower().rstrip(".") for d in deps if not d.startswith(SERVICE_PREFIX))
    return found


def _pointed(service: Service, stand_in: dict[str, str]) -> Service:
    def point(deps: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(
            d if d.startswith(SERVICE_PREFIX) else stand_in.get(d.lower().rstrip("."), d)
            for d in deps
        ))  # fmt: skip

    backups = tuple(replace(b, depends_on=point(b.depends_on)) for b in service.backups)
    return replace(service, depends_on=point(service.depends_on), backups=backups)


# Causes whose summary names single names or queries, or that come one per name: judged
# by classes they would name a stand-in, or come once for many.
NAMED = frozenset({
    CauseKind.OTHER, CauseKind.ANSWERS_DIFFER, CauseKind.NEGATIVE_ANSWER,
    CauseKind.VIEW_DIFFERS, CauseKind.TCP_UNAVAILABLE, CauseKind.REFUSED,
})  # fmt: skip
