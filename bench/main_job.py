"""Benchmark of the main job: `meltano run tap-pipedrive target-cdp dbt:build` (dev, DuckDB).

For each account size (default 10,000 and 100,000 Pipedrive records) against a seeded sandbox:
the full run, then 1% of the records changed through the sandbox's control API, then the
incremental run. Prints wall time, the CPU seconds of the whole process tree and of each part
(Meltano itself, the tap's discovery, the tap's sync, the target, dbt), the peak RSS of the
tree and of its largest process, and the API requests and tokens each run spent.

    .venv/bin/python bench/main_job.py [--sizes 10000 100000] [--burst-limit 40]
    .venv/bin/python bench/main_job.py --sizes 10000 --job tap-pipedrive target-cdp \\
        --baseline 999ab30 --candidate HEAD --rounds 3 --bytecode-cache

The burst limit defaults to Pipedrive's Growth plan (40 requests per 2 s), so wall times are
what a real account of that size would see; `--burst-limit 0` measures the software alone.

`--baseline REV` measures another commit in the same run, against the same sandbox: each
revision is exported (`git archive`) into a temporary Meltano project with its own plugin
installs, state and DuckDB file; their runs alternate, `--rounds` incremental runs each (1% of
the records changed before every round). `--candidate REV` exports that commit too (default:
this checkout as it is). `--bytecode-cache` runs every process with a bytecode cache of its
own (warm after the full run), as an installed deployment has; without it, processes run as
the environment says (`PYTHONDONTWRITEBYTECODE=1` makes every start compile its imports).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from pipedrive_sandbox.testing import RunningSandbox, start_sandbox

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
JOB = ["tap-pipedrive", "target-cdp", "dbt:build"]
PARTS = ("meltano", "discovery", "tap", "target", "dbt", "other")
PLUGIN_PARTS = frozenset(PARTS[1:5])
CHANGE_FIELDS = {
    "persons": ("name", "Renamed {id}"),
    "organizations": ("name", "Renamed org {id}"),
    "deals": ("title", "Renamed deal {id}"),
    "activities": ("subject", "Rescheduled {id}"),
    "notes": ("content", "<p>Edited {id}</p>"),
}


@dataclass
class Measure:
    """One run of the job."""

    seconds: float
    cpu_seconds: float
    tree_peak_mb: float
    process_peak_mb: float
    requests: int
    tokens: int
    cpu_by_part: dict[str, float] = field(default_factory=dict)


@dataclass
class Checkout:
    """A Meltano project to run the job in, with its own state and CDP."""

    label: str
    project: Path
    env: dict[str, str]


def part_of(command: list[str]) -> str:
    """Which part of the job a process of the tree is (a child Meltano forked shows Meltano's
    command line until it execs the plugin)."""
    if any(arg.endswith("bin/meltano") for arg in command[:2]):
        return "meltano"
    if "--discover" in command:
        return "discovery"
    text = " ".join(command)
    for part, marker in (("tap", "tap-pipedrive"), ("target", "target-cdp"), ("dbt", "dbt")):
        if marker in text:
            return part
    return "other"


def run_job(checkout: Checkout, job: list[str], sandbox: RunningSandbox) -> Measure:
    """Run the job, polling the RSS and CPU of its process tree."""
    sandbox.control.reset_stats()
    started = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu: dict[int, tuple[str, float]] = {}
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [str(BIN / "meltano"), "--environment", "dev", "run", *job],
            cwd=checkout.project,
            env=checkout.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        tree_peak = process_peak = 0
        root = psutil.Process(process.pid)
        while process.poll() is None:
            sizes = []
            for proc in [root, *root.children(recursive=True)]:
                try:
                    with proc.oneshot():
                        sizes.append(proc.memory_info().rss)
                        times = proc.cpu_times()
                        known = cpu.get(proc.pid, ("other", 0.0))[0]
                        part = known if known in PLUGIN_PARTS else part_of(proc.cmdline())
                        # an exiting process has no command line: it stays what it was
                        part = known if part == "other" else part
                except psutil.Error:
                    continue
                cpu[proc.pid] = (part, times.user + times.system)
            tree_peak = max(tree_peak, sum(sizes))
            process_peak = max(process_peak, *sizes, 0)
            time.sleep(0.05)
        if process.returncode != 0:
            log.seek(0)
            raise SystemExit(f"the job failed in {checkout.label}:\n{log.read()[-5000:]}")
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    by_part: dict[str, float] = defaultdict(float)
    for part, used in cpu.values():
        by_part[part] += used
    stats = sandbox.control.stats()
    return Measure(
        seconds,
        (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        tree_peak / 2**20,
        process_peak / 2**20,
        stats["requests"],
        stats["tokens_spent"],
        dict(by_part),
    )


def change_one_percent(sandbox: RunningSandbox) -> int:
    """Change 1% of the records, spread over every kind; return how many changed."""
    control = sandbox.control
    counts = control.info()["counts"]
    changed = 0
    for kind, total in counts.items():
        if kind not in CHANGE_FIELDS:
            continue
        field_name, template = CHANGE_FIELDS[kind]
        wanted = max(1, total // 100)
        step = max(1, total // wanted)
        for record_id in range(1, total + 1, step)[:wanted]:
            control.update(kind, record_id, {field_name: template.format(id=record_id)})
            changed += 1
    return changed


def export(revision: str, into: Path) -> Path:
    """The files of ``revision`` (``git archive``), unpacked under ``into``."""
    target = into / revision.replace("/", "_")
    target.mkdir(parents=True)
    archive = into / f"{target.name}.tar"
    subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--output", str(archive), revision], check=True
    )
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    (target / "output").mkdir(exist_ok=True)
    return target


def checkout_env(label: str, work: Path, sandbox: RunningSandbox) -> dict[str, str]:
    """The environment of a checkout's runs: its own Meltano database and CDP file."""
    own = work / f"run-{label}"
    own.mkdir()
    warehouse = own / "warehouse.duckdb"
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DATABASE_URI": f"sqlite:///{own}/meltano.db",
        "TAP_PIPEDRIVE_API_URL": sandbox.base_url,
        "TAP_PIPEDRIVE_API_TOKEN": sandbox.api_token,
        "TARGET_CDP_DATABASE_URL": f"duckdb:///{warehouse}",
        "CDP_DUCKDB_PATH": str(warehouse),
        "DBT_TARGET_PATH": f"{own}/dbt-target",
        "DBT_LOG_PATH": f"{own}/dbt-logs",
    }


def install(checkout: Checkout, job: list[str]) -> None:
    """Install the job's plugins into an exported project (not timed)."""
    plugins = sorted({item.split(":")[0] for item in job})
    subprocess.run(
        [str(BIN / "meltano"), "install", *plugins],
        cwd=checkout.project,
        env=checkout.env,
        check=True,
        capture_output=True,
    )


def row(size: int, label: str, run: str, m: Measure) -> str:
    """One line of the table."""
    parts = " ".join(f"{m.cpu_by_part.get(p, 0.0):>6.2f}" for p in PARTS)
    return (
        f"{size:>8} {label:<10} {run:<9} {m.seconds:>7.1f} {m.cpu_seconds:>7.2f} {parts}"
        f" {m.tree_peak_mb:>6.0f} {m.process_peak_mb:>6.0f} {m.requests:>5} {m.tokens:>6}"
    )


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--burst-limit", type=int, default=40)
    parser.add_argument("--job", nargs="+", default=JOB, help="what `meltano run` runs")
    parser.add_argument("--baseline", help="a git revision measured in the same run")
    parser.add_argument("--candidate", help="a git revision (default: this checkout as it is)")
    parser.add_argument("--rounds", type=int, default=1, help="incremental runs per checkout")
    parser.add_argument("--bytecode-cache", action="store_true")
    args = parser.parse_args()

    print(
        f"job: meltano run {' '.join(args.job)}; load average at start "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; PYTHONDONTWRITEBYTECODE="
        f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}, bytecode cache: "
        f"{'own' if args.bytecode_cache else 'as the environment says'}"
    )
    print(
        f"{'records':>8} {'checkout':<10} {'run':<9} {'wall s':>7} {'CPU s':>7} "
        + " ".join(f"{p[:6]:>6}" for p in PARTS)
        + f" {'treeMB':>6} {'procMB':>6} {'reqs':>5} {'tokens':>6}"
    )
    for size in args.sizes:
        with (
            tempfile.TemporaryDirectory() as tmp,
            start_sandbox(seed=3, scale=size, burst_limit=args.burst_limit) as sandbox,
        ):
            work = Path(tmp)
            projects = {"candidate": export(args.candidate, work) if args.candidate else ROOT}
            if args.baseline:
                projects = {"baseline": export(args.baseline, work), **projects}
            checkouts = []
            for label, project in projects.items():
                env = checkout_env(label, work, sandbox)
                if args.bytecode_cache:
                    env.pop("PYTHONDONTWRITEBYTECODE", None)
                    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
                checkouts.append(Checkout(label, project, env))
                if project != ROOT:
                    install(checkouts[-1], args.job)
            for checkout in checkouts:
                print(row(size, checkout.label, "full", run_job(checkout, args.job, sandbox)))
            incremental: dict[str, list[Measure]] = defaultdict(list)
            for round_number in range(args.rounds):
                changed = change_one_percent(sandbox)
                order = checkouts if round_number % 2 == 0 else checkouts[::-1]
                for checkout in order:
                    measure = run_job(checkout, args.job, sandbox)
                    incremental[checkout.label].append(measure)
                    print(row(size, checkout.label, f"incr {changed}", measure), flush=True)
            if args.rounds > 1 or args.baseline:
                for label, runs in incremental.items():
                    wall = statistics.median(m.seconds for m in runs)
                    cpu = statistics.median(m.cpu_seconds for m in runs)
                    print(
                        f"{size:>8} {label:<10} median incremental: {wall:.1f} s, {cpu:.2f} CPU s"
                    )


if __name__ == "__main__":
    main()
