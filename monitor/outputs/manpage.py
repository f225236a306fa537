"""dnsmon(1), the manual page, written in roff from the click command tree. Pure.

Every verb, option and help text comes from the commands themselves, so the page cannot
drift from ``dnsmon VERB --help``; only the sections a man page has and ``--help`` lacks
(exit status, environment, files) are written here. ``scripts/manpage`` prints it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import click

EXIT_STATUS = (
    ("0", "Every service up (for verbs that judge: GO, nothing changed, nothing found)."),
    ("1", "Something degraded, or warnings (GO with warnings; answers changed)."),
    ("2", "Something down (NO-GO; something that worked before fails now)."),
    ("3", "Unknown: a bad config, bad usage or an internal error (never 2, which means "
          "down)."),
)  # fmt: skip
ENVIRONMENT = (
    ("DNSMON_CONFIG", "The probes.yaml to use when --config is not given."),
    ("DNSMON_DEBUG", "When set, an internal error shows its Python traceback."),
    ("_DNSMON_COMPLETE", "Shell completion, click's: eval \"$(_DNSMON_COMPLETE=bash_source "
                         "dnsmon)\" (or zsh_source, fish_source) completes verbs, options, "
                         "services, servers and KIND:NAME targets from the config."),
)  # fmt: skip
FILES = (
    ("probes.yaml", "The config in the current folder, used when neither --config nor "
                    "$DNSMON_CONFIG names another: the servers to ask, the names to ask "
                    "them, and the services and backups that need those names."),
)  # fmt: skip


def page(cli: click.Group, version: str, date: str, name: str = "dnsmon") -> str:
    """The whole page for ``cli``; ``date`` as the footer shows it (``2026-11-26``)."""
    root = click.Context(cli, info_name=name, **cli.context_settings)
    lines = [f'.TH {name.upper()} 1 "{date}" "{name} {escape(version)}" "User Commands"']
    lines += [".nh", ".ad l"]  # no hyphens in option names, no stretched lines
    summary = (cli.help or "").strip().split("\n", 1)[0]
    _, _, tagline = summary.partition(": ")
    lines += [".SH NAME", f"{name} \\- {escape((tagline or summary).rstrip('.'))}"]
    lines += [".SH SYNOPSIS", *_synopsis(name, "", cli.collect_usage_pieces(root))]
    lines += [".SH DESCRIPTION", *help_text(_after_first_line(cli.help or ""))]
    lines += [".SH OPTIONS", *_options(cli, root)]
    lines.append(".SH COMMANDS")
    for verb, command in cli.commands.items():
        if command.hidden:
            continue
        ctx = click.Context(command, info_name=verb, parent=root)
        lines.append(f'.SS "{verb}"')
        lines += _synopsis(name, verb, command.collect_usage_pieces(ctx))
        lines += help_text(command.help or "")
        lines += _options(command, ctx)
    lines += [".SH EXIT STATUS", *_entries(EXIT_STATUS, bold=True)]
    lines += [".SH ENVIRONMENT", *_entries(ENVIRONMENT, bold=True)]
    lines += [".SH FILES", *_entries(FILES, bold=False)]
    lines += [".SH SEE ALSO", "The README.md of dnsmon: probes.yaml walk-through, Prometheus, "
              "alert rules and Grafana, and the steps before a planned upgrade."]  # fmt: skip
    return "\n".join(lines) + "\n"


def _synopsis(name: str, verb: str, pieces: list[str]) -> list[str]:
    words = " ".join(f"\\fI{escape(p)}\\fR" for p in pieces)
    before = " [\\fB\\-\\-config\\fR \\fIFILE\\fR]"  # the group's option, before any verb
    command = f"\\fB{name}\\fR" + (f"{before} \\fB{escape(verb)}\\fR" if verb else "")
    return [".PP", f"{command} {words}".rstrip()]


def _after_first_line(help_text: str) -> str:
    return help_text.strip().partition("\n")[2]


def _options(command: click.Command, ctx: click.Context) -> list[str]:
    lines = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:  # arguments, and hidden options
            continue
        flags, said = record
        lines += [".TP", _flags(flags), *_paragraph(said)]
    return lines


def _flags(flags: str) -> str:
    """``-o, --output PATH`` with the options bold and the value italic."""
    words = re.split(r"(, | )", flags)
    shown = []
    for word in words:
        if word in (", ", " "):
            shown.append(word)
        elif word.startswith("-"):
            shown.append(f"\\fB{escape(word)}\\fR")
        else:
            shown.append(f"\\fI{escape(word)}\\fR")
    return "".join(shown)


def help_text(text: str) -> list[str]:
    """click's help text as roff: paragraphs filled, ``\\b`` blocks kept as written."""
    lines: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip("\n")):
        block_lines = block.split("\n")
        if block_lines[0].strip() == "\b":
            shown = [line.rstrip() for line in _dedent(block_lines[1:])]
            while shown and not shown[-1]:
                shown.pop()
            lines += [".PP", ".nf", *(_verbatim(line) for line in shown), ".fi"]
        elif block.strip():
            lines += [".PP", *_paragraph(block)]
    return lines


def _dedent(lines: list[str]) -> Iterator[str]:
    indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    for line in lines:
        yield line[indent:]


def _paragraph(text: str) -> list[str]:
    words = " ".join(line.strip() for line in text.strip().split("\n"))
    return [_verbatim(words)] if words else []


def _verbatim(line: str) -> str:
    """One line of text as roff shows it: a line starting with ``.`` or ``'`` is not a
    request; leading spaces kept."""
    escaped = escape(line)
    return f"\\&{escaped}" if escaped[:1] in (".", "'") else escaped


def _entries(entries: tuple[tuple[str, str], ...], bold: bool) -> list[str]:
    font = "B" if bold else "I"
    lines = []
    for term, said in entries:
        lines += [".TP", f"\\f{font}{escape(term)}\\fR", _verbatim(said)]
    return lines


def escape(text: str) -> str:
    """Backslashes and hyphens as roff reads them: ``\\e`` and ``\\-`` (so that options
    copied from the page are typed with a real minus)."""
    return text.replace("\\", "\\e").replace("-", "\\-")
