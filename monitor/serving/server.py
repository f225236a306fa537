"""``dnsmon serve``: wire the scheduler, the HTTP server and the signals together."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import click

from monitor.outputs.logs import LOGGER
from monitor.serving import webconfig
from monitor.serving.scheduler import Scheduler
from monitor.serving.web import Server

SWITCH_INTERVAL = 0.0002


def run(config_path: str, listen: str, web_config_path: str | None) -> int:
    """Serve until SIGTERM or SIGINT; SIGHUP reloads. Returns the exit code."""
    # The rounds thread computes for a second at a time at scale, and a scrape takes the
    # interpreter back after each of its twenty-odd system calls: switching every 0.2 ms
    # rather than every 5 keeps it from waiting behind the round (p95 26 ms → 9 ms).
    sys.setswitchinterval(SWITCH_INTERVAL)
    scheduler = Scheduler(config_path, status_url=f"http://{listen}/")
    try:
        http = Server(listen, scheduler, webconfig.load(web_config_path))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {listen}: {exc.strerror or exc}") from exc
    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        LOGGER.info("stopping", extra={"signal": signal.Signals(signum).name})
        stopping.set()
        threading.Thread(target=http.shutdown, daemon=True).start()

    def reload(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=scheduler.reload, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
    scheduler.start()
    LOGGER.info("listening", extra={"address": listen, "config": config_path,
                                    "tls": web_config_path is not None,
                                    "max_connections": http.max_connections})  # fmt: skip
    http.serve_forever(poll_interval=0.2)
    scheduler.stop()
    http.server_close()
    return 0
