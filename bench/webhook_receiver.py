"""Throughput, acknowledgement time and memory of the webhook receiver (pipedrive-webhooks).

Starts ``pipedrive-webhooks serve`` as a child process on a fresh spool (a SQLite file by
default, or a fresh PostgreSQL database with ``--pg-url``), sends N Pipedrive-shaped webhook v2
deliveries over C keep-alive connections (a small asyncio HTTP/1.1 client, so the client costs
little of the shared CPU), and prints events acknowledged per second, the acknowledgement time
percentiles (request sent -> 200 read; every 200 means the event was committed durably), and
the receiver's peak RSS (``VmHWM``). A share of deliveries can be sent twice (Pipedrive's
retries) to include deduplication. At the end the spool must hold exactly the N distinct events.

    .venv/bin/python bench/webhook_receiver.py                          # 20,000 events, 32 conns
    .venv/bin/python bench/webhook_receiver.py --events 50000 --connections 64 --duplicates 0.1
    .venv/bin/python bench/webhook_receiver.py --pg-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import psutil
import psycopg
import requests
from pipedrive_webhooks.spool import Spool

USER = "bench"
PASSWORD = "bench-password-0123456789"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def delivery(n: int) -> bytes:
    """A person change as Pipedrive's guide shows it (about 900 bytes)."""
    person = {
        "id": n,
        "name": f"Person {n}",
        "first_name": "Person",
        "last_name": str(n),
        "emails": [{"label": "work", "value": f"p{n}@example.com", "primary": True}],
        "phones": [{"label": "work", "value": "+49 30 1234567", "primary": True}],
        "org_id": n % 500,
        "owner_id": 5,
        "label": None,
        "visible_to": "3",
        "add_time": "2026-11-24T13:18:55Z",
        "update_time": "2026-11-24T13:18:55Z",
        "custom_fields": {"region": {"type": "enum", "id": 17}},
    }
    meta = {
        "action": "change",
        "entity": "person",
        "entity_id": str(n),
        "company_id": "77",
        "correlation_id": str(uuid.uuid4()),
        "id": f"evt-{n:08d}",
        "is_bulk_edit": False,
        "timestamp": "2026-11-24T13:18:55.665Z",
        "type": "general",
        "user_id": "5",
        "version": "2.0",
        "webhook_id": "12",
        "webhook_owner_id": "5",
        "change_source": "app",
        "attempt": 1,
        "host": "acme.pipedrive.com",
        "permitted_user_ids": ["5"],
    }
    return orjson.dumps({"meta": meta, "data": person, "previous": {"name": f"P {n}"}})


async def connection(
    port: int, bodies: list[bytes], latencies: list[float], failures: list[int]
) -> None:
    """Send ``bodies`` one after another on one keep-alive connection."""
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for body in bodies:
            head = (
                f"POST /pipedrive HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: Basic {auth}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            started = time.perf_counter()
            writer.write(head.encode() + body)
            await writer.drain()
            headers = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in headers.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not headers.startswith(b"HTTP/1.1 200"):
                failures.append(int(headers[9:12]))
    finally:
        writer.close()


async def send_all(
    port: int, bodies: list[bytes], connections: int
) -> tuple[list[float], list[int]]:
    """Spread ``bodies`` over ``connections`` concurrent connections."""
    latencies: list[float] = []
    failures: list[int] = []
    await asyncio.gather(
        *(connection(port, bodies[n::connections], latencies, failures) for n in range(connections))
    )
    return latencies, failures


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], share: float) -> float:
    """The ``share`` percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def fresh_pg_database(admin_url: str) -> str:
    """A new database on the server of ``admin_url``; its URL."""
    name = f"bench_webhooks_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def start(spool_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """The receiver as a child process, ready."""
    env = {
        **os.environ,
        "PIPEDRIVE_WEBHOOKS_SPOOL_URL": spool_url,
        "PIPEDRIVE_WEBHOOKS_AUTH_USER": USER,
        "PIPEDRIVE_WEBHOOKS_AUTH_PASSWORD": PASSWORD,
        "PIPEDRIVE_WEBHOOKS_APPLY_COMMAND": "",
        "PIPEDRIVE_WEBHOOKS_LOG_LEVEL": "WARNING",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipedrive_webhooks", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the receiver exited {process.returncode}: {log.read_text()}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                return process
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    sys.exit("the receiver did not start within 120 s")


def main() -> None:
    """Run one measurement and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duplicates", type=float, default=0.0, help="share sent twice")
    parser.add_argument("--pg-url", help="PostgreSQL server (admin URL) instead of SQLite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        spool_url = fresh_pg_database(args.pg_url) if args.pg_url else f"{tmp}/spool.sqlite"
        bodies = [delivery(n) for n in range(args.events)]
        repeats = random.Random(7).sample(bodies, int(args.duplicates * args.events))
        sent = bodies + repeats
        random.Random(8).shuffle(sent)
        port = free_port()
        process = start(spool_url, port, Path(tmp) / "receiver.log")
        try:
            before = psutil.Process(process.pid).cpu_times()
            started = time.perf_counter()
            client_cpu = time.process_time()
            latencies, failures = asyncio.run(send_all(port, sent, args.connections))
            wall = time.perf_counter() - started
            client_cpu = time.process_time() - client_cpu
            rss = peak_rss_mib(process.pid)
            cpu = psutil.Process(process.pid).cpu_times()
            cpu_seconds = cpu.user + cpu.system - before.user - before.system
        finally:
            process.terminate()
            process.wait(timeout=60)
        spool = Spool(spool_url)
        stored = spool.count_after(0)
        spool.close()
        if args.pg_url:
            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{spool_url.rsplit("/", 1)[1]}" WITH (FORCE)')

    engine = "PostgreSQL" if args.pg_url else "SQLite (WAL, synchronous=FULL)"
    print(f"spool: {engine}; {args.connections} keep-alive connections; {os.cpu_count()} CPUs")
    print(f"deliveries sent:         {len(sent):,} ({len(repeats):,} redeliveries)")
    print(f"acknowledged (200):      {len(latencies) - len(failures):,}; other: {len(failures)}")
    print(f"events in the spool:     {stored:,} (expected {args.events:,})")
    print(f"acknowledged per second: {len(latencies) / wall:,.0f} ({wall:.1f} s wall)")
    print(
        "ack time p50 / p99 / max: "
        f"{percentile(latencies, 0.50) * 1000:.1f} / {percentile(latencies, 0.99) * 1000:.1f} / "
        f"{max(latencies) * 1000:.1f} ms"
    )
    print(
        f"receiver CPU:            {cpu_seconds:.1f} s (after start-up) = "
        f"{len(latencies) / cpu_seconds:,.0f} deliveries per CPU-second"
    )
    print(f"receiver peak RSS:       {rss:.1f} MiB")
    print(
        f"machine: load average {os.getloadavg()[0]:.1f} at the end; this client used "
        f"{client_cpu:.1f} CPU-s"
    )
    if failures or stored != args.events:
        sys.exit("FAILED: not every delivery was acknowledged and stored once")


if __name__ == "__main__":
    main()
