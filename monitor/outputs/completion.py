"""Shell completion from the config: services, servers and ``KIND:NAME`` targets.

click's own completion (``_DNSMON_COMPLETE=bash_source dnsmon``) calls these while the
user presses TAB. The config is the one the command line would use: ``--config`` before
or after the verb, else $DNSMON_CONFIG, else ./probes.yaml. A config that does not load
completes nothing, quietly: a traceback on someone's prompt helps nobody.

Bash splits words at ``:`` (it is in COMP_WORDBREAKS), so ``--fail server:ns1`` reaches
the completion as ``server``, ``:``, ``ns1``; ``ColonBash`` joins them again and hands
bash back only the part after the last colon, as bash-completion's
``__ltrim_colon_completions`` does for its own commands.
"""

from __future__ import annotations

import os
from typing import Any

import click
from click.shell_completion import BashComplete, CompletionItem, add_completion_class

from monitor.config import Config, load

# Where the verb's own ``--config`` leaves its value for completion to find: while
# completing, the verbs' shared context does not exist yet.
CONFIG_AFTER_VERB = "dnsmon.config_after_verb"
KINDS = ("server", "zone", "name")


def config_path(ctx: click.Context) -> str:
    """The config file the command line being completed names."""
    after = ctx.meta.get(CONFIG_AFTER_VERB)
    before = ctx.find_root().params.get("config_path")
    return str(after or before or os.environ.get("DNSMON_CONFIG") or "probes.yaml")


def _config(ctx: click.Context) -> Config | None:
    try:
        return load(config_path(ctx))
    except Exception:  # noqa: BLE001 — whatever is wrong with it, TAB completes nothing
        return None


def services(ctx: click.Context, _param: Any, incomplete: str) -> list[str]:
    """``check --service <TAB>``: the services of the config."""
    config = _config(ctx)
    found = [s.name for s in config.services] if config else []
    return [s for s in found if s.startswith(incomplete)]


def servers(ctx: click.Context, _param: Any, incomplete: str) -> list[str]:
    """``check --server <TAB>``: the servers of the config."""
    config = _config(ctx)
    found = [s.name for s in config.servers] if config else []
    return [s for s in found if s.startswith(incomplete)]


def targets(ctx: click.Context, _param: Any, incomplete: str) -> list[str]:
    """``impact --fail <TAB>``, ``preflight --change <TAB>``: ``server:NAME``,
    ``zone:NAME`` and ``name:NAME`` from the config."""
    config = _config(ctx)
    if config is None:
        return []
    return [t for t in target_names(config) if t.startswith(incomplete)]


def target_names(config: Config) -> list[str]:
    """Every ``KIND:NAME`` a what-if can name in ``config``, each once."""
    zones = dict.fromkeys(z for s in config.servers for z in s.zones)
    names = dict.fromkeys(n.name for n in config.names)
    return [
        *(f"server:{s.name}" for s in config.servers),
        *(f"zone:{z}" for z in zones),
        *(f"name:{n}" for n in names),
    ]


class ColonBash(BashComplete):
    """Bash completion that completes ``server:ns1`` whatever COMP_WORDBREAKS holds."""

    trim = ""  # what bash keeps of the word being completed: the reply leaves it out

    def get_completion_args(self) -> tuple[list[str], str]:
        args, incomplete = super().get_completion_args()
        words, self.trim = join_colons([*args, incomplete])
        return words[:-1], words[-1]

    def format_completion(self, item: CompletionItem[Any]) -> str:
        value = item.value
        if self.trim and isinstance(value, str) and value.startswith(self.trim):
            value = value[len(self.trim) :]
        return f"{item.type},{value}"


def join_colons(words: list[str]) -> tuple[list[str], str]:
    """Words as typed, where bash split them at colons; and the part of the last one that
    bash keeps (up to its last colon) when it was split there, else ""."""
    joined: list[str] = []
    pieces: list[int] = []  # how many of bash's words each joined word was
    glue = False  # the next word continues the last one
    for word in words:
        colons = word != "" and set(word) == {":"}
        if joined and (glue or colons):
            joined[-1] += word
            pieces[-1] += 1
        else:
            joined.append(word)
            pieces.append(1)
        glue = colons
    if not joined or pieces[-1] == 1:
        return joined, ""
    return joined, joined[-1][: joined[-1].rfind(":") + 1]


add_completion_class(ColonBash)  # in place of click's bash: the same script, colons joined
