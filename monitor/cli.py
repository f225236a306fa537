"""The ``dnsmon`` command: thin verbs over the library.

Exit codes follow the monitoring-plugin convention: 0 up, 1 degraded or warnings,
2 down, 3 unknown. Usage and config errors exit 3, never click's default 2.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import click
from rich.console import Console

from monitor import config as config_module
from monitor.config import Config, ConfigError, overrides
from monitor.config.suggest import did_you_mean
from monitor.outputs import completion
from monitor.outputs.report import EXIT_UNKNOWN, exit_code
from monitor.serving import memory

FORMAT = click.Choice(["text", "json"])
# Verbs that judge health once can also speak as a monitoring plugin.
CHECK_FORMAT = click.Choice(["text", "json", "nagios"])


class Context:
    """What every verb shares: where the config lives, loaded once on demand."""

    def __init__(self, config_path: str) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = config_module.load(self.config_path)
            memory.settle()
        return self._config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="DNSMON_CONFIG",
    default="probes.yaml",
    show_default=True,
    metavar="FILE",
    help="The probes.yaml to use (or $DNSMON_CONFIG).",
)
@click.version_option(None, "-V", "--version", package_name="dnsmon")
@click.pass_context
def cli(ctx: click.Context, config_path: str) -> None:
    """dnsmon: which services and backups still work when the internal DNS does not.

    Exit codes: 0 all up, 1 degraded or warnings, 2 something down, 3 unknown.
    """
    memory.tune()
    ctx.obj = Context(config_path)


def _config_after_verb(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta[completion.CONFIG_AFTER_VERB] = value  # while completing, no Context yet
        found = ctx.find_object(Context)
        if found is not None:
            found.config_path = value


def pass_config(f: Any) -> Any:
    """``pass_obj``, plus ``--config`` accepted after the verb too (``dnsmon check --config F``)."""
    f = click.pass_obj(f)
    return click.option(
        "--config",
        metavar="FILE",
        expose_value=False,
        callback=_config_after_verb,
        help="The probes.yaml to use (same as before the verb).",
    )(f)


def _write_json(data: Any) -> None:
    from monitor.outputs.jsontext import dumps

    sys.stdout.flush()
    sys.stdout.buffer.write(dumps(data) + b"\n")
    sys.stdout.buffer.flush()


def emit(report: dict[str, Any], fmt: str, render: Any) -> None:
    """Print ``report`` as JSON, as a monitoring plugin, or through ``render`` for people."""
    if fmt == "json":
        _write_json(report)
    elif fmt == "nagios":
        from monitor.outputs import nagios

        click.echo(nagios.render(report), nl=False)
    else:
        from monitor.outputs.render import page

        with page() as out:
            render(report, out)


@contextlib.contextmanager
def unknown_for_nagios(fmt: str) -> Iterator[None]:
    """With ``--format nagios``, a config or usage error is the plugin's UNKNOWN line on
    stdout, where Nagios reads; still exit 3."""
    try:
        yield
    except (ConfigError, click.ClickException) as exc:
        if fmt != "nagios":
            raise
        from monitor.outputs import nagios

        if isinstance(exc, ConfigError):
            said = nagios.unknown(f"invalid config: {exc.errors[0]}", exc.errors[1:])
        else:
            said = nagios.unknown(exc.format_message())
        click.echo(said, nl=False)
        raise click.exceptions.Exit(EXIT_UNKNOWN) from exc


def round_options(f: Any) -> Any:
    """``--timeout``, ``--attempts`` and ``--server``: one ad hoc round, asked differently."""
    timeout = click.option(
        "--timeout",
        metavar="DURATION",
        help="Per-query timeout (500ms, 2s), instead of the config's.",
    )
    attempts = click.option(
        "--attempts", type=int, metavar="N", help="Attempts per query, instead of the config's."
    )
    server = click.option(
        "--server",
        "servers",
        multiple=True,
        metavar="NAME",
        shell_complete=completion.servers,
        help="Ask only this server, as named in the config (repeatable).",
    )
    return timeout(attempts(server(f)))


def overridden(
    config: Config, timeout: str | None, attempts: int | None, servers: tuple[str, ...]
) -> tuple[Config, list[str]]:
    """The config with the round's overrides, and notes on what ``--server`` left out."""
    try:
        if timeout is not None:
            config = overrides.with_timeout(config, timeout)
        if attempts is not None:
            config = overrides.with_attempts(config, attempts)
        if not servers:
            return config, []
        restricted = overrides.only_servers(config, servers)
    except overrides.OverrideError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.option) from exc
    return restricted.config, restricted.notes(servers)


@cli.command()
@click.option("--format", "fmt", type=CHECK_FORMAT, default="text", show_default=True,
              help="nagios: a monitoring plugin's status line and performance data.")  # fmt: skip
@click.option("--service", "services", multiple=True, metavar="NAME", help="Only this service.",
              shell_complete=completion.services)  # fmt: skip
@round_options
@pass_config
def check(
    obj: Context, fmt: str, services: tuple[str, ...], timeout: str | None,
    attempts: int | None, servers: tuple[str, ...],
) -> int:  # fmt: skip
    """Run one probe round now and report services, backups, names and zones.

    \b
    Examples, before a planned upgrade, and as a Nagios check of one resolver:
        dnsmon --config probes.yaml check --service ehr
        dnsmon check --server resolver-a --timeout 500ms --format nagios
    """
    from monitor.outputs.render import render
    from monitor.serving.rounds import Monitor

    with unknown_for_nagios(fmt):
        known = [s.name for s in obj.config.services]
        for name in services:
            if name not in known:
                hint = did_you_mean(name, known)
                raise click.BadParameter(f"{name!r} is not a service{hint}", param_hint="--service")
        config, notes = overridden(obj.config, timeout, attempts, servers)
        monitor = Monitor(config)
        for name in services:
            if name not in monitor.graph.services:
                message = f"{name!r} needs no name that these servers are asked"
                raise click.BadParameter(message, param_hint="--server")
        outcome = monitor.run_round(list(services) or None)
    outcome.report["notes"] += notes
    emit(outcome.report, fmt, render)
    return exit_code(outcome.report)


@cli.command()
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
@pass_config
def lint(obj: Context, fmt: str) -> int:
    """Validate the config and report what can be known without probing.

    \b
    Example:
        dnsmon --config probes.yaml lint
    """
    from monitor.judging.lint import findings
    from monitor.outputs.render import page, render_lint

    config = obj.config
    found = findings(config) + _learned_findings(config)
    if fmt == "json":
        _write_json({"valid": True, "findings": found})
    else:
        with page() as out:
            render_lint(config, found, out)
    return 1 if found else 0


def _learned_findings(config: Config) -> list[dict[str, Any]]:
    """What ``serve`` learned (its ``learning.state``, where there is one), for ``lint``."""
    from pathlib import Path

    from monitor.judging import graph as graph_module
    from monitor.judging.lint import from_learned
    from monitor.learning.aggregate import Aggregates

    state = config.learning.state
    if not state or not Path(state).exists():
        return []
    import json

    try:
        learned = Aggregates.from_json(json.loads(Path(state).read_text()))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{state}: cannot read the learning state: {exc}") from exc
    return from_learned(graph_module.build(config), learned)


@cli.command()
@click.option(
    "--fail",
    "failures",
    multiple=True,
    required=True,
    metavar="KIND:NAME",
    help="Assume this server, zone or name fails (repeatable).",
    shell_complete=completion.targets,
)
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
@click.option("--detail", is_flag=True, help="Every service, backup and name, not a summary.")
@pass_config
def impact(obj: Context, failures: tuple[str, ...], fmt: str, detail: bool) -> int:
    """What-if, nothing probed: what goes down if these fail.

    KIND is server, zone or name. Two moments: while resolver caches last (resolvers
    with serve_stale answering from expired cache), and once they have run out. Exits
    on the worse. A summary by default; --detail for every service, backup and name.

    \b
    Example, before upgrading both authoritative servers:
        dnsmon impact --fail server:ns1 --fail server:ns2
    """
    from monitor.judging import impact as impact_module
    from monitor.outputs import impact as told
    from monitor.outputs.render import render
    from monitor.serving import whatif
    from monitor.serving.rounds import Monitor

    monitor = Monitor(obj.config)
    try:
        parsed = [impact_module.parse_failure(f, obj.config, monitor.graph) for f in failures]
    except impact_module.UnknownTarget as exc:
        raise click.BadParameter(str(exc), param_hint="--fail") from exc
    found, every_name = whatif.moments(monitor, parsed, detail)
    moments = [told.moment(m.report, m.name, m.after_seconds) for m in found]
    codes = [exit_code(m.report) for m in found]  # before anything is left out of them
    chosen = found[told.worse(moments, codes)]
    worst = chosen.report
    worst["assumed_failures"] = [str(f) for f in parsed]
    worst["moment"] = chosen.name  # the moment this report is of
    worst["moments"] = moments
    if not every_name:
        told.without_names(worst)
    if fmt == "json":
        _write_json(worst)
    elif not detail:
        click.echo(told.summary(worst, moments))
    else:
        click.echo("\n".join(told.headline(worst, moments)))
        emit(worst, fmt, render)
    return max(codes)


@cli.command()
@click.option(
    "--change",
    "changes",
    multiple=True,
    required=True,
    metavar="KIND:NAME",
    help="What the change takes down: a server, zone or name (repeatable).",
    shell_complete=completion.targets,
)
@click.option(
    "--window",
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="How long the change may keep them down (30m, 2h).",
)
@click.option(
    "--snapshot",
    "snapshot_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Where to save the snapshot for diff [default: preflight-<UTC time>.json here].",
)
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
@pass_config
def preflight(
    obj: Context, changes: tuple[str, ...], window: str, snapshot_path: str | None, fmt: str
) -> int:
    """GO or NO-GO before a planned change: probes once and says what the change would
    take down, what is not healthy now, which clocks run out within the window, and how
    long a rollback takes to reach cached clients.

    Exits 0 GO, 1 GO with warnings, 2 NO-GO, 3 bad input.

    \b
    Example, before upgrading the primary for at most two hours:
        dnsmon preflight --change server:ns1 --window 2h
    """
    import shlex
    import time

    from monitor.judging import health as health_module
    from monitor.judging import impact as impact_module
    from monitor.judging import preflight as preflight_module
    from monitor.outputs import snapshot as snapshot_module
    from monitor.outputs.render import page, render_preflight
    from monitor.serving.rounds import Monitor

    try:
        seconds = config_module.parse_duration(window)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from exc
    monitor = Monitor(obj.config)
    try:
        parsed = [impact_module.parse_failure(c, obj.config, monitor.graph) for c in changes]
    except impact_module.UnknownTarget as exc:
        raise click.BadParameter(str(exc), param_hint="--change") from exc
    now = monitor.run_round()
    # What is already down stays down during the change: imagined on top of it.
    silent = [impact_module.Failure("server", s) for s, f in now.facts.items() if not f.answered]
    down = [f for f in silent if f not in parsed]
    during = health_module.judge(monitor.graph, impact_module.imagine(monitor.graph, parsed + down))
    causes = now.report["causes"]
    verdict = preflight_module.judge(
        monitor.graph, now.health, now.report["status"], causes[0]["summary"] if causes else "",
        during, parsed, seconds,
    )  # fmt: skip
    path = snapshot_path or time.strftime("preflight-%Y%m%dT%H%M%SZ.json", time.gmtime())
    try:
        snapshot_module.save(now.report, path)
    except OSError as exc:
        raise click.BadParameter(
            f"cannot save the snapshot: {exc}", param_hint="--snapshot"
        ) from exc
    dnsmon = f"dnsmon --config {shlex.quote(obj.config_path)}"
    out = {
        "verdict": verdict.verdict,
        "changes": [str(f) for f in parsed],
        "window_seconds": int(seconds),
        "reasons": [r.as_json() for r in verdict.reasons],
        "rollback_seconds": verdict.rollback_seconds,
        "rollback": list(verdict.rollback_names),
        "snapshot": path,
        "commands": [f"{dnsmon} watch", f"{dnsmon} diff {shlex.quote(path)}"],
    }
    if fmt == "json":
        _write_json(out)
    else:
        with page() as console:
            render_preflight(out, console)
    return verdict.exit_code


@cli.command()
@click.option(
    "--listen",
    default="127.0.0.1:9953",
    show_default=True,
    metavar="ADDR:PORT",
    help="Where to serve HTTP; an IP literal, e.g. [::1]:9953.",
)
@click.option(
    "--web-config-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="TLS and basic auth, in the Prometheus exporter-toolkit format.",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="A host name the exporter answers to besides IP literals and localhost "
    "(repeatable; on loopback nothing else is served: the DNS-rebinding guard).",
)
@click.option(
    "--log-format", type=click.Choice(["logfmt", "json"]), default="logfmt", show_default=True
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@pass_config
def serve(
    obj: Context, listen: str, web_config_file: str | None, allowed_hosts: tuple[str, ...],
    log_format: str, log_level: str,
) -> int:  # fmt: skip
    """Run the exporter: probe every interval and serve /metrics.

    Serves /metrics, / (status page), /api/status (the JSON report), /-/healthy,
    /-/ready and POST /-/reload. SIGHUP reloads the config too.

    \b
    Example:
        dnsmon --config /etc/dnsmon/probes.yaml serve --listen 127.0.0.1:9953
    """
    from monitor.outputs import logs
    from monitor.serving import server
    from monitor.serving.web import parse_listen

    try:
        parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from exc
    logs.setup(log_format, log_level)
    return server.run(obj.config_path, listen, web_config_file, allowed_hosts)


@cli.command()
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the snapshot JSON.",
)
@round_options
@pass_config
def snapshot(
    obj: Context, output: str, timeout: str | None, attempts: int | None, servers: tuple[str, ...]
) -> int:
    """Run one probe round and save every answer, serial and state as JSON.

    \b
    Example, before a planned upgrade:
        dnsmon snapshot -o before.json
    """
    from monitor.outputs import snapshot as snapshot_module
    from monitor.serving.rounds import Monitor

    config, notes = overridden(obj.config, timeout, attempts, servers)
    outcome = Monitor(config).run_round()
    outcome.report["notes"] += notes
    try:
        snapshot_module.save(outcome.report, output)
    except OSError as exc:  # the file that was there, if any, is left whole
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from exc
    click.echo(f"saved {len(outcome.report['names'])} names, status {outcome.report['status']},"
               f" to {output}")  # fmt: skip
    return exit_code(outcome.report)


@cli.command()
@click.argument("before", type=click.Path(exists=True, dir_okay=False))
@click.argument("after", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=FORMAT, default="text", show_default=True)
@pass_config
def diff(obj: Context, before: str, after: str | None, fmt: str) -> int:
    """Compare two snapshots, or a snapshot with a live round now.

    Exits 0 when nothing changed, 1 when answers, serials or TTLs changed,
    2 when something that worked before fails now.

    \b
    Example, after a planned upgrade:
        dnsmon diff before.json
    """
    from monitor.outputs import snapshot as snapshot_module
    from monitor.outputs.render import page, render_diff
    from monitor.serving.rounds import Monitor

    try:
        old = snapshot_module.load(before)
        if after is None:
            new = snapshot_module.make(Monitor(obj.config).run_round().report)
        else:
            new = snapshot_module.load(after)
    except snapshot_module.SnapshotError as exc:
        raise click.BadParameter(str(exc)) from exc
    result = snapshot_module.compare(old, new)
    if fmt == "json":
        _write_json(result.as_json())
    else:
        with page() as out:
            render_diff(result.as_json(), out)
    return result.exit_code()


@cli.command()
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many rounds (default: until Ctrl-C).",
)
@pass_config
def watch(obj: Context, rounds: int | None) -> int:
    """A live view for the upgrade window, refreshed each round; Ctrl-C to leave.

    \b
    Example, while upgrading ns1:
        dnsmon watch
    """
    from monitor.serving import watch as watch_module
    from monitor.serving.rounds import Monitor

    return watch_module.run(Monitor(obj.config, continuous=True), Console(highlight=False), rounds)


@cli.command()
@click.option(
    "--from",
    "sources",
    multiple=True,
    required=True,
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="A dnstap file or a resolver's query or reply log, gzip or not (repeatable).",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=7,
    show_default=True,
    help="How far back from the newest message read counts.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "yaml"]), default="text",
              show_default=True)  # fmt: skip
@pass_config
def learn(obj: Context, sources: tuple[str, ...], days: int, fmt: str) -> int:
    """Learn who resolves what from the resolvers' own traffic, and hold it against the map.

    Reads dnstap files, BIND query logs, Unbound reply logs, PowerDNS Recursor logs,
    Windows DNS debug logs and Zeek dns.log (the format is told from the content; gzip
    and rotated files too).
    Each query is attributed to the services, backups and client groups whose hosts:
    or networks: hold its client. Exits 0 when nothing is found, 1 for names to add or
    drop, 2 when a backup said to need no DNS uses it. The config is never changed:
    --format yaml prints the fragment to add.

    \b
    Example, a week of Unbound's replies:
        dnsmon learn --from /var/log/unbound/replies.log* --format yaml
    """
    from monitor.judging import graph as graph_module
    from monitor.judging import learned
    from monitor.learning import readers
    from monitor.learning.learner import Learner
    from monitor.outputs import learned as learned_output
    from monitor.outputs.render import page

    config = obj.config
    learner = Learner(config)
    if learner.owners.empty:
        raise click.UsageError(
            "no service, backup or client group says which machines are its own: add "
            "hosts: to services and backups (or networks: to clients) to learn from traffic"
        )
    try:
        stats = learner.read_files(sources)
    except (OSError, readers.UnknownFormat) as exc:
        raise click.BadParameter(str(exc), param_hint="--from") from exc
    graph = graph_module.build(config)
    found = learned.findings(graph, learner.learned, days)
    if fmt == "yaml":
        click.echo(learned_output.fragment(graph, found), nl=False)
    elif fmt == "json":
        _write_json(learned_output.report(days, stats, found))
    else:
        with page() as out:
            learned_output.render(learned_output.report(days, stats, found), out)
    return learned.exit_code(found)


@cli.command()
@click.option("--listen", default="127.0.0.1:9953", show_default=True, metavar="ADDR:PORT")
@click.option(
    "--duration",
    type=click.FloatRange(min=20),
    default=120.0,
    show_default=True,
    help="Seconds the replay lasts.",
)
def demo(listen: str, duration: float) -> int:
    """Run everything offline: embedded DNS, the exporter, and a replayed outage.

    Needs no config and no DNS software: the example region is built in.

    \b
    Example:
        dnsmon demo            # then open http://127.0.0.1:9953/
    """
    from monitor.demo import replay as demo_module
    from monitor.serving.web import parse_listen

    try:
        parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from exc
    return demo_module.run(listen, duration)


def main() -> None:
    """Console entry point: maps every failure to the exit-code contract."""
    try:
        code = cli.main(standalone_mode=False, prog_name="dnsmon")
    except ConfigError as exc:
        click.echo("invalid config:", err=True)
        for error in exc.errors:
            click.echo(f"  {error}", err=True)
        sys.exit(EXIT_UNKNOWN)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_UNKNOWN)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(EXIT_UNKNOWN)
    except BrokenPipeError:
        os._exit(EXIT_UNKNOWN)
    except Exception as exc:  # an internal error is "unknown", never a false "degraded"
        if os.environ.get("DNSMON_DEBUG"):
            raise
        click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(EXIT_UNKNOWN)
    sys.exit(code if isinstance(code, int) else 0)
