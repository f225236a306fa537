"""A real Alertmanager (Debian's) on loopback, and a webhook that records what it sends on.

    with Webhook() as hook, Alertmanager(workdir, hook) as am:
        am.firing()                       # the alerts it holds now, as its v2 API says
        hook.notifications               # every notification it delivered, resolved too

Started and stopped by PID, ready when ``/-/ready`` answers 200; clustering off.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import pytest
import yaml
from exporter import wait_until
from servers import Managed, free_port, stop_process


class Webhook:
    """An HTTP receiver for Alertmanager's webhook notifications."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                size = int(self.headers.get("Content-Length", 0))
                hook.notifications.append(json.loads(self.rfile.read(size)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def alerts(self, status: str) -> list[dict[str, Any]]:
        """Every alert delivered with this status (firing or resolved)."""
        return [a for n in self.notifications for a in n["alerts"] if a["status"] == status]

    def __enter__(self) -> Self:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


SHIPPED = Path(__file__).resolve().parent.parent / "deploy" / "alertmanager.example.yml"


def shipped_config(webhook: Webhook) -> dict[str, Any]:
    """The example config dnsmon ships, as is, but delivering to ``webhook`` and with
    groups sent after a second instead of the example's tens of seconds."""
    config: dict[str, Any] = yaml.safe_load(SHIPPED.read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook.url
    root = config["route"]
    for route in [root, *root.get("routes", [])]:
        for timing in ("group_wait", "group_interval"):
            if route is root or timing in route:
                route[timing] = "1s"
    return config


class Alertmanager(Managed):
    """A private Alertmanager that delivers every group at once to ``webhook``."""

    def __init__(
        self, workdir: Path, webhook: Webhook, config: dict[str, Any] | None = None
    ) -> None:
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if binary is None:
            pytest.fail("Alertmanager is not installed (Debian package prometheus-alertmanager)")
        self.binary = binary
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = workdir
        self.log_path = workdir / "alertmanager.log"
        route = {"receiver": "hook", "group_by": ["alertname", "site", "service"],
                 "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"}  # fmt: skip
        receivers = [{"name": "hook", "webhook_configs": [{"url": webhook.url,
                                                            "send_resolved": True}]}]  # fmt: skip
        self.config = workdir / "alertmanager.yml"
        config = config or {"route": route, "receivers": receivers}
        self.config.write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        command = [
            self.binary,
            f"--config.file={self.config}",
            f"--storage.path={self.dir / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, cwd=self.dir, stdout=log, stderr=log)
        wait_until(self._ready, "Alertmanager ready", 20, self.log)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert it holds, as its v2 API lists them."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=2) as response:
            found: list[dict[str, Any]] = json.loads(response.read())
            return found

    def firing(self, alertname: str | None = None) -> list[dict[str, Any]]:
        return [
            a
            for a in self.alerts()
            if a["status"]["state"] == "active"
            and (alertname is None or a["labels"]["alertname"] == alertname)
        ]

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGTERM)
        self.proc = None
