"""The download benchmark: every contender, same data, same shaped link, one run.

    python bench/run.py                       # all scenarios, scale 1, 3 runs each
    python bench/run.py --scenarios small --runs 5 --scale 0.5
    python bench/run.py --markdown bench/results/latest.md

Per scenario: build (or reuse) the bucket folder in tmpfs, serve it with
``rclone serve s3`` behind the shaping proxy (30 ms per request, 20 MB/s per
connection by default), then run each contender ``--runs`` times in
alternating order, each into an empty folder, checking every byte before the
run counts. Prints one table per scenario (medians) with each contender's
throughput relative to ours, and whether the issue's targets are met.
Nothing here gates CI.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from contenders import CONTENDERS, LISTERS, Context, Contender, base_env, compile_ours, tool  # noqa: E402
from measure import check_tree, cpu_ticks, run_commands  # noqa: E402
from objects import LocalObjects  # noqa: E402
from proxy import ShapingProxy  # noqa: E402
from scenarios import BUCKET, SCENARIOS, Block, Scenario, bucket_dir, build, etags  # noqa: E402
from servers import RcloneS3  # noqa: E402
import report  # noqa: E402


@dataclass
class Run:
    contender: str
    wall: float
    cpu: float
    rss: int
    bytes: int
    files: int
    proxy: dict
    problems: list[str] = field(default_factory=list)
    rig_cpu: float = 0.0
    """CPU seconds the server and the shaping proxy spent on this run: on two
    cores they compete with the client, so a client's CPU costs throughput."""
    steal: float = 0.0
    """Share of the machine's CPU time the hypervisor gave elsewhere during the run."""


CLIENT_CPUS: set[int] | None = None
"""The cores every contender runs on (``--pin``); the rig keeps the others."""


def pin_rig_and_clients(enabled: bool) -> str:
    """Put the rig (this process: the shaping proxy's threads, and rclone, its
    child) on the first core and every contender on the second.

    On a shared 2-core machine a client that uses more cores otherwise slows the
    server it is measured against, which real S3 never does. Must run before the
    proxy's threads and rclone start: both inherit this thread's affinity.
    """
    global CLIENT_CPUS
    cores = sorted(os.sched_getaffinity(0))
    if not enabled or len(cores) < 2:
        return "not pinned (rig and contenders share every core)"
    rig, client = cores[0], cores[1]
    os.sched_setaffinity(0, {rig})
    CLIENT_CPUS = {client}
    return f"rig (server and shaping proxy) pinned to core {rig}, each contender to core {client}"


def fresh_folders(work: Path) -> tuple[Path, Path]:
    """An empty download folder and an empty private HOME for one run."""
    folders = (work / "out", work / "home")
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    return folders


def sample_keys(scenario: Scenario, limit: int) -> list[str]:
    """At most ``limit`` keys, evenly spaced, so the sample mixes sizes as the whole does."""
    keys = [k for k, _ in scenario.files]
    if len(keys) <= limit:
        return keys
    step = len(keys) / limit
    return [keys[int(i * step)] for i in range(limit)]


def rig_cpu(server: RcloneS3) -> tuple[float, float]:
    """CPU seconds so far of the server, and of this process (the proxy is its thread)."""
    return server.cpu_seconds(), time.process_time()


def one_run(contender: Contender, scenario: Scenario, md5s: dict[str, str], proxy: ShapingProxy,
            work: Path, per_file_sample: int, server: RcloneS3) -> Run:
    dest, home = fresh_folders(work)
    keys = sample_keys(scenario, per_file_sample) if contender.per_file else [k for k, _ in scenario.files]
    ctx = Context(proxy.url, dest, keys, scenario.batch_args, home)
    env = base_env(ctx, contender.env(ctx))
    proxy.reset_stats()
    rig_before, ticks_before = rig_cpu(server), cpu_ticks()
    measured = run_commands(contender.build(ctx), parallel=contender.parallel, env=env, cpus=CLIENT_CPUS)
    stolen, total = (after - before for after, before in zip(cpu_ticks(), ticks_before))
    rig = sum(after - before for after, before in zip(rig_cpu(server), rig_before))
    stats = proxy.stats()
    expected = {k: md5s[k] for k in keys}
    problems = measured.failed + check_tree(dest, expected)
    sizes = dict(scenario.files)
    shutil.rmtree(dest, ignore_errors=True)
    return Run(contender.name, measured.wall, measured.cpu, measured.rss,
               sum(sizes[k] for k in keys), len(keys), stats, problems[:5], rig, stolen / total if total else 0.0)


def list_run(contender: Contender, scenario: Scenario, proxy: ShapingProxy, work: Path) -> Run:
    """A listing contender: time, memory, and the number of keys it saw."""
    dest, home = fresh_folders(work)
    ctx = Context(proxy.url, dest, [], scenario.batch_args, home)
    printed = work / "listing.txt"
    proxy.reset_stats()
    measured = run_commands(contender.build(ctx), env=base_env(ctx, contender.env(ctx)), stdout=printed,
                            cpus=CLIENT_CPUS)
    stats = proxy.stats()
    text = printed.read_text(errors="replace")
    if contender.ours:
        found = re.search(r"^(\d+) files, ", text, re.MULTILINE)
        seen = int(found.group(1)) if found else 0
    else:
        seen = sum(1 for line in text.splitlines() if line.strip())
    problems = list(measured.failed)
    if seen != len(scenario.files):
        problems.append(f"saw {seen} keys of {len(scenario.files)}")
    return Run(contender.name, measured.wall, measured.cpu, measured.rss, 0, seen, stats, problems)


def warm_up(scenario: Scenario, md5s: dict[str, str], proxy: ShapingProxy, work: Path, listing: bool,
            server: RcloneS3) -> None:
    """One untimed pass: rclone computes each object's MD5 (its ETag) on first
    access, which would otherwise slow whichever contender runs first."""
    started = time.monotonic()
    s5cmd = next(c for c in (LISTERS if listing else CONTENDERS) if c.name.startswith("s5cmd"))
    run = list_run(s5cmd, scenario, proxy, work) if listing else one_run(s5cmd, scenario, md5s, proxy, work, 0, server)
    state = "; ".join(run.problems) if run.problems else "ok"
    print(f"   warm-up pass ({s5cmd.name}) in {time.monotonic() - started:.1f} s: {state}", flush=True)


def bench_scenario(scenario: Scenario, args, block: Block) -> list[Run]:
    print(f"\n== {scenario.name}: {scenario.summary}", flush=True)
    started = time.monotonic()
    md5s = build(args.root, scenario, block)
    print(f"   data ready in {time.monotonic() - started:.1f} s", flush=True)
    listing = scenario.name == "listing"
    field = [c for c in (LISTERS if listing else CONTENDERS)
             if not args.only or any(w in c.name for w in args.only) or c.ours]
    work = args.root / "work"
    runs: list[Run] = []
    objects = (LocalObjects(bucket_dir(args.root, scenario), md5s, BUCKET, etags(args.root, scenario, args.etags))
               if args.objects == "proxy" else None)
    with RcloneS3(bucket_dir(args.root, scenario)) as server, \
            ShapingProxy(server.url, ttfb=args.ttfb_ms / 1000, conn_rate=args.conn_rate,
                         total_rate=args.total_rate, objects=objects) as proxy:
        warm_up(scenario, md5s, proxy, work, listing, server)
        for n in range(args.runs):
            order = field if n % 2 == 0 else field[::-1]
            for contender in order:
                if listing:
                    run = list_run(contender, scenario, proxy, work)
                else:
                    run = one_run(contender, scenario, md5s, proxy, work, args.per_file_sample, server)
                runs.append(run)
                flag = "  BAD: " + "; ".join(run.problems) if run.problems else ""
                rate = f"{run.bytes / 1e6 / run.wall:8.1f} MB/s" if run.bytes else f"{run.files} keys"
                print(f"   run {n + 1} {contender.name:<32} {run.wall:7.2f} s {rate}  client CPU {run.cpu:5.2f} s, "
                      f"rig CPU {run.rig_cpu:5.2f} s, stolen {run.steal:4.0%}{flag}", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return runs


def machine() -> dict:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    versions = {}
    for name, cmd in {"s5cmd": ["version"], "aws": ["--version"], "rclone": ["version"]}.items():
        try:
            out = subprocess.run([tool(name), *cmd], capture_output=True, text=True, timeout=30)
            versions[name] = (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            versions[name] = "missing"
    from laion_fmri_tui import __version__
    versions["laion-fmri-tui"] = __version__
    block = bytes(64 * 1024 * 1024)
    started = time.process_time()
    for _ in range(4):
        hashlib.md5(block, usedforsecurity=False).digest()
    md5_per_gb = (time.process_time() - started) / (4 * len(block) / 1e9)
    from laion_fmri_tui.core.integrity import md5_steps
    lanes = [md5_steps.Md5Stream() for _ in range(md5_steps.WIDTH)]
    started = time.process_time()
    md5_steps.update_together(lanes, [memoryview(block)] * len(lanes), len(block), [True] * len(lanes))
    lanes_per_gb = (time.process_time() - started) / (len(lanes) * len(block) / 1e9)
    return {"cpu": cpu, "cores": len(__import__("os").sched_getaffinity(0)),
            "python": platform.python_version(), "kernel": platform.release(), "tools": versions,
            "md5_cpu_per_gb": md5_per_gb, "md5_lanes_cpu_per_gb": lanes_per_gb, "md5_lanes": md5_steps.WIDTH}


def render_saved(path: Path, markdown: Path | None) -> int:
    saved = json.loads(path.read_text())
    info, settings = saved["machine"], saved["settings"]
    info.setdefault("md5_cpu_per_gb", machine()["md5_cpu_per_gb"])  # files written before it was kept
    results = {name: [Run(**r) for r in runs] for name, runs in saved["runs"].items()}
    text = report.render(results, {n: SCENARIOS[n](settings["scale"]) for n in results}, info, settings)
    print(text)
    if markdown:
        markdown.write_text(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="+", default=["large", "small", "subject", "listing"],
                        choices=sorted(SCENARIOS))
    parser.add_argument("--scale", type=float, default=1.0, help="data size factor (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="runs per contender (median reported)")
    parser.add_argument("--root", type=Path, default=Path("/dev/shm/laion-fmri-bench"),
                        help="where data sets and downloads live (default: a tmpfs folder)")
    parser.add_argument("--ttfb-ms", type=float, default=30.0)
    parser.add_argument("--conn-rate", default="20M", help="per-connection cap (default 20M bytes/s)")
    parser.add_argument("--total-rate", default=None, help="optional cap over all connections")
    parser.add_argument("--etags", choices=["aws-cli", "md5"], default="aws-cli",
                        help="the objects' ETags: as an `aws s3 cp` upload leaves them (multipart above 8 MiB, "
                             "the default) or every object one PUT (its MD5); needs --objects proxy")
    parser.add_argument("--objects", choices=["proxy", "rclone"], default="proxy",
                        help="who sends object bytes: the proxy by sendfile (default, light on the CPU) "
                             "or rclone through the proxy")
    parser.add_argument("--per-file-sample", type=int, default=40,
                        help="keys the one-process-per-file contenders fetch (default 40)")
    parser.add_argument("--only", nargs="*", default=[], help="contenders whose name contains one of these")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="let the rig and the contenders share every core (default: rig on one core, "
                             "contenders on another)")
    parser.add_argument("--json", type=Path, help="write every run and the machine to this file")
    parser.add_argument("--markdown", type=Path, help="write the tables to this file")
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="print (and --markdown) the tables of an earlier --json file; run nothing")
    args = parser.parse_args(argv)
    if args.render:
        return render_saved(args.render, args.markdown)
    args.root.mkdir(parents=True, exist_ok=True)
    compile_ours()
    block = Block()
    info = machine()
    pinning = pin_rig_and_clients(args.pin)
    print(f"   {pinning}", flush=True)
    results: dict[str, list[Run]] = {}
    for name in args.scenarios:
        scenario = SCENARIOS[name](args.scale)
        results[name] = bench_scenario(scenario, args, block)
    settings = {"scale": args.scale, "runs": args.runs, "objects": args.objects, "etags": args.etags,
                "ttfb_ms": args.ttfb_ms, "conn_rate": args.conn_rate,
                "total_rate": args.total_rate, "per_file_sample": args.per_file_sample, "root": str(args.root),
                "pinning": pinning}
    text = report.render(results, {n: SCENARIOS[n](args.scale) for n in results}, info, settings)
    print("\n" + text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": info, "settings": settings,
                                         "runs": {k: [asdict(r) for r in v] for k, v in results.items()}},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
