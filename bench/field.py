"""The field bench: far links, throttling, kills, a forward proxy, the plan at
distance and the app, each against its peers in the same run.

    python bench/field.py                      # every scenario, about 15 minutes on an idle machine
    python bench/field.py --quick              # a smoke run of every scenario, about 3 minutes
    python bench/field.py --only far-large plan-far

The rig (``rclone serve s3`` for listings, the shaping proxy that answers
object GETs, tinyproxy) is pinned to the first core and every client to the
second, so what is measured is the client, as on real S3 whose cores are not
the client's. Each scenario prints a table and its targets; all of them go to
``--markdown`` and ``--json`` (default ``bench/results/field.md`` and
``.json``). Nothing here gates CI. See bench/README.md ("Field scenarios").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import field_report as fr  # noqa: E402
import run as classic  # noqa: E402
from contenders import Context, base_env, compile_ours, named, tool  # noqa: E402
from field_scenarios import BY_NAME, FIELDS, RETRY_AFTER, Field, Kind, Link, link_for  # noqa: E402
from forward_proxy import Tinyproxy  # noqa: E402
from measure import check_tree, run_commands  # noqa: E402
from objects import LocalObjects  # noqa: E402
from proxy import ShapingProxy  # noqa: E402
from scenarios import BUCKET, SCENARIOS, Block, Scenario, bucket_dir, build, etags  # noqa: E402
from servers import RcloneS3  # noqa: E402


class DataSets:
    """Each data set built once, served by one ``rclone serve s3`` for the whole run.

    rclone hashes an object (its ETag) when first listing it: one unshaped
    ``s5cmd ls`` warms it, so no contender pays for that."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.block = Block()
        self.open: dict[tuple[str, float], tuple[Scenario, dict[str, str], RcloneS3]] = {}

    def get(self, data: str, scale: float) -> tuple[Scenario, dict[str, str], RcloneS3]:
        if (data, scale) not in self.open:
            scenario = SCENARIOS[data](scale)
            # one folder per data set and scale, so runs of other scales never rebuild it
            root = self.root / f"{data}-{scale:g}"
            started = time.monotonic()
            md5s = build(root, scenario, self.block)
            server = RcloneS3(bucket_dir(root, scenario)).start()
            lister = named("s5cmd ls")
            home = root / "warm-home"
            home.mkdir(exist_ok=True)
            ctx = Context(server.url, root, [], (), home)
            run_commands(lister.build(ctx), env=base_env(ctx, {}))
            print(f"   data {data} at scale {scale:g} ready in {time.monotonic() - started:.1f} s", flush=True)
            self.open[(data, scale)] = (scenario, md5s, server, root)
        return self.open[(data, scale)][:3]

    def objects(self, data: str, scale: float) -> LocalObjects:
        scenario, md5s, _, root = self.open[(data, scale)]
        return LocalObjects(bucket_dir(root, scenario), md5s, BUCKET, etags(root, scenario, "aws-cli"))

    def close(self) -> None:
        for *_, server, _ in self.open.values():
            server.stop()


def shaper(server: RcloneS3, link: Link, objects: LocalObjects, request_rate: float | None = None) -> ShapingProxy:
    return ShapingProxy(server.url, ttfb=link.ttfb_ms / 1000, conn_rate=link.conn_rate, total_rate=link.total_rate,
                        objects=objects, request_rate=request_rate, retry_after=RETRY_AFTER)


def transfer_run(name: str, scenario: Scenario, md5s: dict[str, str], proxy: ShapingProxy, work: Path,
                 extra_env: dict[str, str], rig) -> dict:
    """One contender copies the whole selection; its bytes are checked before it counts."""
    contender = named(name)
    dest, home = classic.fresh_folders(work)
    keys = [k for k, _ in scenario.files]
    ctx = Context(proxy.url, dest, keys, scenario.batch_args, home)
    env = base_env(ctx, {**contender.env(ctx), **extra_env})
    proxy.reset_stats()
    load = os.getloadavg()[0]
    rig_before = rig()
    measured = run_commands(contender.build(ctx), parallel=contender.parallel, env=env, cpus=classic.CLIENT_CPUS,
                            timeout=600)
    rig_cpu = rig() - rig_before
    problems = measured.failed + check_tree(dest, md5s)
    shutil.rmtree(dest, ignore_errors=True)
    return {"contender": name, "wall": measured.wall, "cpu": measured.cpu, "rss": measured.rss,
            "bytes": scenario.total_bytes, "files": len(keys), "proxy": proxy.stats(), "problems": problems[:5],
            "rig_cpu": rig_cpu, "load": load}


def bench_transfer(field: Field, link: Link, sets: DataSets, args, work: Path) -> dict:
    scenario, md5s, server = sets.get(field.data, field.scaled(args.quick))
    runs = []
    tiny = Tinyproxy(work / "tinyproxy").start() if field.forward_proxy else None
    try:
        extra = tiny.client_env() if tiny else {}
        with shaper(server, link, sets.objects(field.data, field.scaled(args.quick)), field.request_rate) as proxy:
            rig = lambda: server.cpu_seconds() + time.process_time() + (tiny.cpu_seconds() if tiny else 0.0)  # noqa: E731
            for n in range(args.runs):
                order = field.contenders if n % 2 == 0 else field.contenders[::-1]
                for name in order:
                    got = transfer_run(name, scenario, md5s, proxy, work, extra, rig)
                    runs.append(got)
                    flag = "  FAILED: " + "; ".join(got["problems"][:2]) if got["problems"] else ""
                    print(f"   run {n + 1} {name:<32} {got['wall']:7.2f} s {got['bytes'] / 1e6 / got['wall']:8.1f} MB/s"
                          f"  CPU {got['cpu']:5.2f} s, rig {got['rig_cpu']:5.2f} s, conns "
                          f"{got['proxy']['connections']}, peak {got['proxy']['peak_requests']}, 503s "
                          f"{got['proxy']['throttled']}, first GET {got['proxy']['first_object']} s, "
                          f"load {got['load']:.1f}{flag}", flush=True)
    finally:
        if tiny:
            tiny.stop()
    lines, targets = fr.transfer_section(field, runs)
    heading = (f"{scenario.summary}; {scenario.total_bytes / 1e6:,.1f} MB in {len(scenario.files)} files; "
               f"{link.label}" + (f"; {field.request_rate:.0f} GET/s, then 503 SlowDown (Retry-After "
                                  f"{RETRY_AFTER} s)" if field.request_rate else "")
               + ("; every client through tinyproxy" if field.forward_proxy else "")
               + f"; medians of {args.runs} runs")
    return {"heading": heading, "lines": lines, "targets": targets, "runs": runs}


def bench_listing(field: Field, link: Link, sets: DataSets, args, work: Path) -> dict:
    scale = field.scaled(args.quick)
    scenario, _, server = sets.get(field.data, scale)
    runs = []
    runs_wanted = min(args.runs, field.max_runs or args.runs)
    with shaper(server, link, sets.objects(field.data, scale)) as proxy:
        for n in range(runs_wanted):
            order = field.contenders if n % 2 == 0 else field.contenders[::-1]
            for name in order:
                run = classic.list_run(named(name), scenario, proxy, work)
                runs.append(asdict(run))
                print(f"   run {n + 1} {name:<34} {run.wall:7.2f} s, {run.rss / 1e6:5.0f} MB, {run.files} keys"
                      + (f"  PROBLEM: {run.problems[0]}" if run.problems else ""), flush=True)
    lines, targets = fr.listing_section(field, runs, len(scenario.files), full_size=len(scenario.files) >= 100_000)
    heading = f"{scenario.summary}; {link.label}; medians of {runs_wanted} runs"
    if len(scenario.files) < 100_000:
        heading += " (scaled down: the targets hold for 100,000 keys and are not judged here)"
    return {"heading": heading, "lines": lines, "targets": targets, "runs": runs}


def start_ours(ctx: Context, env: dict[str, str], log) -> subprocess.Popen:
    pin = (lambda: os.sched_setaffinity(0, classic.CLIENT_CPUS)) if classic.CLIENT_CPUS else None
    command = [tool("laion-fmri-tui"), "--batch", "--data-dir", str(ctx.dest), "--accept-license",
               "--endpoint-url", ctx.url, *ctx.batch_args]
    return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                            start_new_session=True, preexec_fn=pin)


def kills_run(scenario: Scenario, md5s: dict[str, str], proxy: ShapingProxy, work: Path,
              kill_every: float | None) -> dict:
    """Start ``--batch``; SIGKILL its process group every ``kill_every`` seconds
    and start it again, until a start finishes (exit 0). Bytes are what the
    proxy sent over all starts; wall time runs from the first start to the end."""
    dest, home = classic.fresh_folders(work)
    ctx = Context(proxy.url, dest, [], scenario.batch_args, home)
    env = base_env(ctx, {})
    proxy.reset_stats()
    started = time.monotonic()
    starts = kills = 0
    problems: list[str] = []
    with open(work / "kills.log", "wb") as log:
        while True:
            starts += 1
            proc = start_ours(ctx, env, log)
            try:
                code = proc.wait(timeout=kill_every if kill_every else 900)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                if not kill_every:
                    problems.append("did not finish in 900 s")
                    break
                kills += 1
                if starts > 60:
                    problems.append("not done after 60 starts")
                    break
                continue
            if code != 0:
                problems.append(f"exit code {code}")
                if starts > 60:
                    break
                continue
            break
    wall = time.monotonic() - started
    problems += check_tree(dest, md5s)
    shutil.rmtree(dest, ignore_errors=True)
    return {"wall": wall, "starts": starts, "kills": kills, "bytes": proxy.stats()["bytes_out"],
            "problems": problems[:5]}


def bench_kills(field: Field, link: Link, kill_every: float, sets: DataSets, args, work: Path) -> dict:
    scenario, md5s, server = sets.get(field.data, field.scaled(args.quick))
    with shaper(server, link, sets.objects(field.data, field.scaled(args.quick))) as proxy:
        plain = kills_run(scenario, md5s, proxy, work, None)
        print(f"   uninterrupted {plain['wall']:6.1f} s, {plain['bytes'] / 1e6:.1f} MB sent", flush=True)
        cut = kills_run(scenario, md5s, proxy, work, kill_every)
        print(f"   killed every {kill_every:.0f} s: {cut['wall']:6.1f} s, {cut['starts']} starts, "
              f"{cut['bytes'] / 1e6:.1f} MB sent" + (f"  PROBLEM: {cut['problems'][0]}" if cut["problems"] else ""),
              flush=True)
    result = {"uninterrupted": plain, "interrupted": cut, "selection_bytes": scenario.total_bytes,
              "kill_every": kill_every}
    lines, targets = fr.kills_section(result)
    heading = (f"{scenario.summary}; {scenario.total_bytes / 1e6:,.1f} MB; {link.label}; "
               f"SIGKILL every {kill_every:.0f} s and start again until done")
    return {"heading": heading, "lines": lines, "targets": targets, "runs": [result]}


def bench_app(field: Field, sets: DataSets, args, work: Path) -> dict:
    import field_app
    from field_scenarios import BASE, FAR, REQUEST_RATE, SLOW

    scale = field.scaled(args.quick)
    scenario, md5s, server = sets.get(field.data, scale)
    objects = sets.objects(field.data, scale)
    result: dict = {"keys": {}}
    with shaper(server, FAR, objects) as proxy:
        result.update(field_app.first_frames(proxy.url, work, classic.CLIENT_CPUS, runs=3))
        result.update(field_app.tree_levels(proxy.url, work, classic.CLIENT_CPUS))
    print(f"   first frame {result['first_frame']}, tree listed {result['tree_listed']}, levels "
          f"{[round(x * 1000) for x in result['levels']]} ms", flush=True)
    seconds = 4.0 if args.quick else 8.0
    for label, link, rate, forward in (("lab link", BASE, None, False), ("far link", FAR, None, False),
                                       ("throttled", BASE, REQUEST_RATE, False), ("slow link", SLOW, None, False),
                                       ("through tinyproxy", BASE, None, True)):
        tiny = Tinyproxy(work / "tinyproxy").start() if forward else None
        try:
            with shaper(server, link, objects, rate) as proxy:
                got = field_app.keys_while_downloading(proxy.url, work, classic.CLIENT_CPUS, seconds,
                                                       tiny.client_env() if tiny else {})
        except RuntimeError as error:
            got = {"latencies": [], "error": str(error)[-200:]}
        finally:
            if tiny:
                tiny.stop()
        result["keys"][label] = got
        print(f"   keys while downloading, {label}: {[round(x * 1000) for x in got['latencies']]} ms"
              + (f"  PROBLEM: {got['error']}" if got.get("error") else ""), flush=True)
    lines, targets = fr.app_section(result, FAR.ttfb_ms)
    heading = (f"first frame and tree at {FAR.label}; keys pressed every half second for {seconds:.0f} s of a "
               f"download of sub-01 ({scenario.summary}) on each link")
    return {"heading": heading, "lines": lines, "targets": targets, "runs": [result]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=[f.name for f in FIELDS], metavar="SCENARIO",
                        help="run only these scenarios: " + ", ".join(f.name for f in FIELDS))
    parser.add_argument("--quick", action="store_true", help="smaller data, one run each (about 3 minutes)")
    parser.add_argument("--runs", type=int, help="runs per contender (default 2, --quick 1; the plan at distance 1)")
    parser.add_argument("--root", type=Path, default=Path("/dev/shm/laion-fmri-field-bench"),
                        help="where data sets and downloads live (default: a tmpfs folder)")
    parser.add_argument("--markdown", type=Path, default=HERE / "results" / "field.md")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "field.json")
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 2)
    chosen = [BY_NAME[name] for name in args.only] if args.only else FIELDS
    for binary in ("s5cmd", "aws", "rclone", "laion-fmri-tui"):
        tool(binary)
    args.root.mkdir(parents=True, exist_ok=True)
    compile_ours()
    info = classic.machine()
    pinning = classic.pin_rig_and_clients(True)
    print(f"   {pinning}", flush=True)
    began = time.monotonic()
    sets = DataSets(args.root)
    results: dict[str, dict] = {}
    sections = []
    try:
        for field in chosen:
            link, kill_every = link_for(field, args.quick)
            print(f"\n== {field.name}: {field.what}", flush=True)
            started = time.monotonic()
            work = args.root / "work"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            if field.kind is Kind.TRANSFER:
                got = bench_transfer(field, link, sets, args, work)
            elif field.kind is Kind.LISTING:
                got = bench_listing(field, link, sets, args, work)
            elif field.kind is Kind.KILLS:
                got = bench_kills(field, link, kill_every, sets, args, work)
            else:
                got = bench_app(field, sets, args, work)
            text = fr.render(field, got["heading"], got["lines"], got["targets"])
            print("\n" + text, flush=True)
            sections.append(text)
            results[field.name] = {"heading": got["heading"], "targets": fr.as_json(got["targets"]),
                                   "runs": got["runs"], "seconds": time.monotonic() - started}
            shutil.rmtree(work, ignore_errors=True)
    finally:
        sets.close()
    took = time.monotonic() - began
    tools = ", ".join(f"{k} {v}" for k, v in info["tools"].items())
    head = [f"## Field results{' (--quick)' if args.quick else ''}", "",
            f"Machine: {info['cores']} cores ({info['cpu']}), Python {info['python']}, Linux {info['kernel']}. "
            f"Tools: {tools}. {pinning}. Took {took / 60:.1f} minutes "
            f"(`bench/field.py{' --quick' if args.quick else ''}"
            f"{' --only ' + ' '.join(args.only) if args.only else ''}`).", "",
            fr.summary(results), ""]
    text = "\n".join(head + sections)
    print("\n" + fr.summary(results) + f"\n\nall scenarios in {took / 60:.1f} minutes", flush=True)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(text + "\n")
    args.json.write_text(json.dumps({"machine": info, "pinning": pinning, "quick": args.quick, "runs": args.runs,
                                     "minutes": took / 60, "scenarios": results}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
