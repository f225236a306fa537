"""What learning from traffic costs: dnsmon learn offline, serve live, and memory.

    python3 benchmarks/learn.py            # everything (about two minutes)

Not a test: it prints what it measured, each figure beside its baseline in the same run.
Traffic is made here (dnstap as BIND and Unbound write it) and goes only to loopback.
"""

from __future__ import annotations

import gc
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from dnstapfiles import T0, response, stream  # noqa: E402

from benchmarks.workloads import _proc_cpu, exporter_counters, run_timed  # noqa: E402

MESSAGES = 100_000
RATE = 2000  # messages a second, live
LIVE_SECONDS = 30


def exchanges(count: int, names: int = 2000, seed: int = 7) -> list[tuple[str, str, str, float]]:
    """``count`` (client, name, type, time) from 200 hosts of 20 services, ``names`` names."""
    rng = random.Random(seed)
    hosts = [f"10.30.{i // 10}.{i % 10 + 1}" for i in range(200)]
    return [(rng.choice(hosts), f"h{rng.randrange(names)}.region.internal",
             rng.choice(["A", "AAAA"]), T0 + i / 50) for i in range(count)]  # fmt: skip


def frames(count: int, names: int = 2000, seed: int = 7) -> list[bytes]:
    """``count`` client responses as dnstap frames."""
    return [response(c, n, t, at=at) for c, n, t, at in exchanges(count, names, seed)]


def config(path: Path, dnstap: list[str] | None = None) -> Path:
    services = [{"name": f"svc{i}", "hosts": [f"10.30.{i}.0/28"],
                 "depends_on": [f"h{i}.region.internal"]} for i in range(20)]  # fmt: skip
    document = {
        "defaults": {"interval": "10s", "timeout": "100ms", "attempts": 1},
        "servers": [{"name": "resolver-a", "address": "127.0.0.1", "port": 9}],
        "names": [{"name": f"h{i}.region.internal"} for i in range(20)],
        "services": services,
    }
    if dnstap is not None:
        document["learning"] = {"dnstap": dnstap}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def offline(tmp: Path) -> None:
    data = stream(frames(MESSAGES))
    tap = tmp / "tap.dnstap"
    tap.write_bytes(data)
    cfg = config(tmp / "probes.yaml")
    dnsmon = str(Path(sys.executable).parent / "dnsmon")
    wall, cpu = _learn(dnsmon, cfg, tap)
    print(f"learn: {MESSAGES:,} dnstap messages ({len(data) / 1e6:.1f} MB), whole"
          f" `dnsmon learn --format json`, 3 runs: wall {wall:.2f} s, CPU {cpu:.2f} s"
          f" = {MESSAGES / cpu:,.0f} messages per CPU-second")  # fmt: skip
    _decoders(data)
    for label, log in _text_logs(tmp).items():
        wall, cpu = _learn(dnsmon, cfg, log)
        print(f"  the same as {label}: CPU {cpu:.2f} s = {MESSAGES / cpu:,.0f} messages per"
              f" CPU-second")  # fmt: skip


def _learn(dnsmon: str, cfg: Path, source: Path) -> tuple[float, float]:
    """Median wall and CPU seconds of three whole ``learn`` runs."""
    runs = [run_timed([dnsmon, "--config", str(cfg), "learn", "--from", str(source), "--format",
                       "json"], capture_output=True) for _ in range(3)]  # fmt: skip
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def _text_logs(tmp: Path) -> dict[str, Path]:
    """The same exchanges as Unbound's reply log and Windows DNS's debug log."""
    from traffic import windows_packet

    unbound, windows = tmp / "replies.log", tmp / "dns.log"
    traffic = exchanges(MESSAGES)
    unbound.write_text("".join(f"[{int(at)}] unbound[1:0] reply: {client} {name}. {rdtype} IN"
                               f" NOERROR 0.000100 0 60\n"
                               for client, name, rdtype, at in traffic))  # fmt: skip
    windows.write_text("".join(windows_packet(at, client, 0x5B47, True, True, 0x8180, "NOERROR",
                                              rdtype, name) + "\r\n"
                               for client, name, rdtype, at in traffic))  # fmt: skip
    return {"Unbound reply lines": unbound, "Windows DNS debug lines": windows}


def _decoders(data: bytes) -> None:
    """Frame Streams decoding alone: ours against the fstrm package, fed 64 KiB at a time."""
    from monitor.learning.readers.framestreams import Decoder

    def ours() -> int:
        decoder, count = Decoder(), 0
        for at in range(0, len(data), 1 << 16):
            decoder.feed(data[at : at + (1 << 16)])
            count += sum(1 for _ in decoder.frames())
        return count

    def theirs() -> int:
        import fstrm

        codec, count = fstrm.FstrmCodec(), 0
        for at in range(0, len(data), 1 << 16):
            codec.append(data[at : at + (1 << 16)])
            while codec.process():
                codec.decode()
                count += 1
        return count

    def theirs_whole() -> int:  # a file handed over at once, as a reader might
        import fstrm

        codec, count = fstrm.FstrmCodec(), 0
        codec.append(data[: 1 << 21])
        while codec.process():
            codec.decode()
            count += 1
        return count

    for label, decode in (("dnsmon's decoder", ours), ("fstrm 0.6.2", theirs),
                          ("fstrm, 2 MB at once", theirs_whole)):  # fmt: skip
        try:
            started = time.process_time()
            count = decode()
            print(f"  {label:<17} {count:,} frames in {time.process_time() - started:.3f} CPU-s")
        except ImportError:
            print(f"  {label:<17} not installed (pip install fstrm to compare)")


def memory() -> None:
    from monitor.learning.aggregate import Aggregates
    from monitor.learning.messages import Message
    from monitor.learning.owners import Owner

    owners = [Owner(f"svc{i}") for i in range(100)]
    gc.collect()
    tracemalloc.start()
    learned = Aggregates()
    for i in range(100_000):
        learned.add(owners[i % 100], Message(T0 + i, "", f"name{i}.region.internal", "A",
                                             "NOERROR"))  # fmt: skip
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    state = len(str(learned.as_json()))
    print(f"memory: 100,000 distinct (owner, name, type) keys: {size / 2**20:.1f} MiB in"
          f" Python objects; the state file about {state / 2**20:.1f} MiB")  # fmt: skip


def live(tmp: Path) -> None:
    """serve with a TCP dnstap socket: its CPU with no traffic, then at RATE a second."""
    from exporter import Exporter
    from servers import free_port

    from monitor.learning.readers.framestreams import (
        CONTENT_TYPE,
        READY,
        START,
        STOP,
        control,
    )  # fmt: skip

    port = free_port()
    where = f"127.0.0.1:{port}"
    sent = frames(RATE * LIVE_SECONDS, seed=11)
    with Exporter(config(tmp / "live.yaml", [where]), tmp) as exporter:
        base = f"http://{exporter.listen}"
        idle = _cpu_over(exporter.pid, 10.0)
        done = threading.Event()

        def send() -> None:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(control(READY, CONTENT_TYPE))
                sock.recv(100)
                sock.sendall(control(START, CONTENT_TYPE))
                start = time.monotonic()
                for i in range(0, len(sent), RATE // 10):
                    sock.sendall(b"".join(sent[i : i + RATE // 10]))
                    time.sleep(max(0.0, start + (i + RATE // 10) / RATE - time.monotonic()))
                sock.sendall(control(STOP))
                sock.recv(100)
            done.set()

        sender = threading.Thread(target=send)
        sender.start()
        busy = _cpu_over(exporter.pid, LIVE_SECONDS - 2)
        sender.join()
        _rounds_after(base, 2)  # counters are published with each round
        wanted = tuple(f'dnsmon_learned_messages_total{{result="{r}",source="{where}"}}'
                       for r in ("kept", "foreign", "noise", "malformed"))  # fmt: skip
        got = sum(exporter_counters(base, wanted).values())
    print(f"live: serve with a dnstap socket, {RATE:,} messages a second for {LIVE_SECONDS} s:"
          f" {busy * 100:.1f} % of a core (idle, no traffic: {idle * 100:.1f} %); the"
          f" messages' share {100 * (busy - idle):.1f} %; {len(sent):,} sent,"
          f" {int(got):,} counted, {len(sent) - int(got):,} lost")  # fmt: skip


def _rounds_after(base: str, more: int) -> None:
    def rounds() -> float:
        return exporter_counters(base, ("dnsmon_rounds_total",))["dnsmon_rounds_total"]

    target = rounds() + more
    while rounds() < target:
        time.sleep(0.5)


def _cpu_over(pid: int, seconds: float) -> float:
    """The share of one core process ``pid`` used over the next ``seconds``."""
    before = _proc_cpu(pid)
    time.sleep(seconds)
    return (_proc_cpu(pid) - before) / seconds


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    with tempfile.TemporaryDirectory() as folder:
        offline(Path(folder))
        memory()
        live(Path(folder))
