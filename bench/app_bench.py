"""The app under load: its download rate against ``--batch``, key latency, first screen.

    python bench/app_bench.py [--scenario subject] [--scale 1] [--runs 3]

* **app vs batch**: the same scenario through the same shaped link, once the
  headless app (Textual's Pilot, 80x24, default settings: tick ``sub-01``,
  press ``d``) and once ``laion-fmri-tui --batch``, alternating. Rates are
  bytes over the transfer time the engine itself reports at the end of its
  run (``run_finished`` in ``--batch --json``, the dashboard's result in the
  app), so both are timed alike; listing and planning, which differ by design,
  do not blur the comparison. The app's rate from its ``d`` press (its engine
  process's start included) is shown too. The app's files are checked byte
  for byte against the data set, and the CPU of the app and of its engine
  process is printed for each run. The scripted user waits two seconds after
  the tree appears before its first key, as a person reading it would.
* **key latency**: in a third download of each run, a ``?`` key event is
  posted every half second, as the terminal driver posts one; the time until
  the help screen is the active screen is recorded, then ``escape`` closes it.
  (Composing help twice a second is not what a user watching the dashboard
  does, so these runs do not count towards the app's rate.)
* **pinning**: the rig (rclone, the shaping proxy: this process) runs on the first
  core, the app, its engine process and `--batch` on the second (`--no-pin`: shared).
* **first screen**: the installed ``laion-fmri-tui`` started in tmux at 80x24
  with a licensed data directory, from the spawn until the bucket tree shows
  ``sub-01`` (its first listing done), median of the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from contenders import Context, base_env, compile_ours, tool  # noqa: E402
from measure import check_tree, run_commands  # noqa: E402
from objects import LocalObjects  # noqa: E402
from proxy import ShapingProxy  # noqa: E402
from scenarios import BUCKET, SCENARIOS, bucket_dir, build, etags  # noqa: E402
from servers import RcloneS3  # noqa: E402


CLIENT_CPUS: set[int] | None = None
"""The client's core (``main`` pins the rig, this process, to the other one)."""


def _pin():
    return (lambda: os.sched_setaffinity(0, CLIENT_CPUS)) if CLIENT_CPUS else None


def licensed(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    (folder / ".laion_fmri").mkdir(parents=True)
    (folder / ".laion_fmri" / "license_accepted").touch()
    return folder


async def app_download(url: str, data_dir: Path, keys: bool) -> dict:
    """Tick sub-01 in the headless app, press d, time the transfer (and, with
    ``keys``, a ``?`` press every half second), and the CPU of the app and of
    its engine process while it ran."""
    import resource

    from laion_fmri_tui.core.settings import S3Settings
    from laion_fmri_tui.tui.app import LaionFmriApp
    from laion_fmri_tui.tui.context import AppContext
    from laion_fmri_tui.tui.screens.help import HelpScreen
    from laion_fmri_tui.tui.screens.transfers import TransfersScreen
    from laion_fmri_tui.tui.widgets.bucket_tree import BucketTree

    app = LaionFmriApp(AppContext(data_dir=data_dir, s3=S3Settings(endpoint_url=url)))
    latencies: list[float] = []
    moments: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        tree, node = await _wait(pilot, lambda: _tree_node(app, BucketTree, "sub-01"))
        await asyncio.sleep(THINK_TIME)
        tree.move_cursor(node)
        await pilot.press("space")
        await _wait(pilot, lambda: getattr(app.screen, "plan", None) is not None
                    and app.screen.plan.files > 0 and not any(w.is_running for w in app.workers))
        plan = app.screen.plan
        started, cpu = time.monotonic(), time.process_time()
        await pilot.press("d")
        await confirm_review(pilot, app)
        screen = await _wait(pilot, lambda: app.screen if isinstance(app.screen, TransfersScreen) else None)
        while screen.transfers_running:
            await asyncio.sleep(0.5 if keys else 0.02)
            if not screen.transfers_running:
                break
            if not keys:
                continue
            pressed = time.monotonic()
            _key(app, "question_mark", "?")
            await _until(lambda: isinstance(app.screen, HelpScreen))
            latencies.append(time.monotonic() - pressed)
            moments.append(round(pressed - started, 2))
            _key(app, "escape", "\x1b")
            await _until(lambda: app.screen is screen)
        elapsed = time.monotonic() - started
        app_cpu = time.process_time() - cpu
        engine_elapsed = screen.result.elapsed if screen.result is not None else elapsed
        await _wait(pilot, lambda: not any(w.is_running for w in app.workers if w.group == "transfers"))
        phase = screen.phase
        if phase != "finished":
            from laion_fmri_tui.tui.widgets.transfer_log import TransferLog

            phase += ": " + " | ".join(text for _, text in screen.query_one(TransferLog).history)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"bytes": plan.bytes_to_fetch, "files": plan.files, "elapsed": engine_elapsed, "from_key": elapsed,
            "phase": phase,
            "app_cpu": app_cpu, "engine_cpu": children.ru_utime + children.ru_stime,
            "keys": [item.key for item in plan.items], "latencies": latencies, "moments": moments}


THINK_TIME = 2.0
"""Seconds between the tree appearing and the first key, as a person takes to
read it: the app starts its engine process and imports its dialogs a second
after start, which a scripted user pressing ``d`` at once would race."""


async def confirm_review(pilot, app) -> None:
    """``d`` shows the plan to review first; ``y`` starts it (as a user confirms)."""
    from laion_fmri_tui.tui.screens.review import ReviewScreen
    from laion_fmri_tui.tui.screens.transfers import TransfersScreen

    screen = await _wait(pilot, lambda: app.screen if isinstance(app.screen, (ReviewScreen, TransfersScreen)) else None)
    if isinstance(screen, ReviewScreen):
        await pilot.press("y")


def _key(app, key: str, char: str) -> None:
    """A key press as the terminal driver delivers one. (Pilot's ``press`` also
    waits for the whole process to go idle, which would time Pilot, not the app.)"""
    from textual import events

    event = events.Key(key, char)
    event.set_sender(app)
    app.post_message(event)


async def _until(probe, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not answer the key")
        await asyncio.sleep(0.001)


def _tree_node(app, tree_type, node_id: str):
    """(tree, node) once the browser shows the node, else None."""
    try:
        tree = app.screen.query_one(tree_type)
    except Exception:  # the browser is not up yet
        return None
    stack = [tree.root]
    while stack:
        node = stack.pop()
        if node.data is not None and getattr(node.data, "id", None) == node_id:
            return tree, node
        stack.extend(node.children)
    return None


async def _wait(pilot, probe, timeout: float = 120.0, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        await pilot.pause(step)
    raise TimeoutError("the app did not get there in time")


def drive_app(url: str, data_dir: Path, home: Path, keys: bool) -> dict:
    """Run :func:`app_download` in a process of its own, as a user's app would be:
    the shaping proxy is a thread of this process and must not share its GIL."""
    env = base_env(Context(url, data_dir, [], (), home), {})
    out = subprocess.run([sys.executable, __file__, "--drive-app", url, str(data_dir), *(["--keys"] if keys else [])],
                         env=env, capture_output=True, text=True, timeout=900, preexec_fn=_pin())
    if out.returncode != 0:
        raise RuntimeError(f"driving the app failed: {out.stderr[-800:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def batch_download(url: str, data_dir: Path, args: tuple[str, ...], home: Path) -> dict:
    """``--batch --json``: the engine's own bytes and elapsed time from its run_finished event."""
    ctx = Context(url, data_dir, [], args, home)
    log = home / "batch.jsonl"
    measured = run_commands([[tool("laion-fmri-tui"), "--batch", "--json", "--data-dir", str(data_dir),
                              "--accept-license", "--endpoint-url", url, *args]], env=base_env(ctx, {}), stdout=log,
                           cpus=CLIENT_CPUS)
    events = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    finished = [e for e in events if e.get("event") == "run_finished"]
    if measured.failed or not finished or finished[-1]["failed"]:
        raise RuntimeError(f"--batch failed: {measured.failed} {log.read_text()[-300:]}")
    return {"bytes": finished[-1]["bytes_fetched"], "elapsed": finished[-1]["elapsed"], "cpu": measured.cpu}


def first_screen(url: str, data_dir: Path, home: Path) -> float:
    """Seconds from spawning the app in tmux until the tree lists sub-01."""
    return start_times(url, data_dir, home, CLIENT_CPUS)[1]


def start_times(url: str, data_dir: Path, home: Path, cpus: set[int] | None) -> tuple[float, float]:
    """Seconds from spawning the installed app in tmux (80x24) until the pane
    shows anything (its first frame), and until the tree lists sub-01."""
    sock = home / "tmux.sock"
    env = base_env(Context(url, data_dir, [], (), home), {"TERM": "xterm-256color"})
    env = {k: v for k, v in env.items() if not k.startswith("TMUX")}
    base = ["tmux", "-S", str(sock), "-f", os.devnull]
    command = f"{tool('laion-fmri-tui')} --data-dir {data_dir} --endpoint-url {url}"
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    started = time.monotonic()
    # the tmux server forks from this command, so the app runs on the client's core
    subprocess.run([*base, "new-session", "-d", "-s", "b", "-x", "80", "-y", "24", command], check=True, env=env,
                   preexec_fn=pin)
    frame = None
    try:
        while time.monotonic() - started < 60:
            screen = subprocess.run([*base, "capture-pane", "-p", "-t", "b"], capture_output=True, text=True).stdout
            now = time.monotonic() - started
            if frame is None and screen.strip():
                frame = now
            if "sub-01" in screen:
                return frame, now
            time.sleep(0.005)
        raise TimeoutError("the first screen never showed sub-01")
    finally:
        subprocess.run([*base, "kill-server"], capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="subject", choices=["large", "subject"])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--root", type=Path, default=Path("/dev/shm/laion-fmri-bench"))
    parser.add_argument("--ttfb-ms", type=float, default=30.0)
    parser.add_argument("--conn-rate", default="20M")
    parser.add_argument("--etags", choices=["aws-cli", "md5"], default="aws-cli",
                        help="the objects' ETags: as an `aws s3 cp` upload leaves them (multipart above 8 MiB, "
                             "the default) or every object one PUT (its MD5); needs --objects proxy")
    parser.add_argument("--objects", choices=["proxy", "rclone"], default="proxy",
                        help="who sends object bytes (as in run.py)")
    parser.add_argument("--markdown", type=Path, help="append the table to this file")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="let the rig and the app share every core (default: rig on one core, app on another)")
    parser.add_argument("--drive-app", nargs=2, metavar=("URL", "DATA_DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--keys", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive_app:
        print(json.dumps(asyncio.run(app_download(args.drive_app[0], Path(args.drive_app[1]), args.keys))))
        return 0
    compile_ours()
    global CLIENT_CPUS
    import run
    print(f"   {run.pin_rig_and_clients(args.pin)}", flush=True)
    CLIENT_CPUS = run.CLIENT_CPUS
    scenario = SCENARIOS[args.scenario](args.scale)
    md5s = build(args.root, scenario)
    work = args.root / "app-work"
    app_rates, batch_rates, latencies, firsts, key_rates = [], [], [], [], []
    objects = (LocalObjects(bucket_dir(args.root, scenario), md5s, BUCKET, etags(args.root, scenario, args.etags))
               if args.objects == "proxy" else None)
    with RcloneS3(bucket_dir(args.root, scenario)) as server, \
            ShapingProxy(server.url, ttfb=args.ttfb_ms / 1000, conn_rate=args.conn_rate, objects=objects) as proxy:
        # One untimed pass of each front end: rclone hashes every object when
        # first listed, and the first run after it was the slowest of either.
        batch_download(proxy.url, licensed(work / "warm"), scenario.batch_args, licensed(work / "home"))
        drive_app(proxy.url, licensed(work / "warm"), licensed(work / "home"), keys=False)
        # Free the warm-up's files before the timed runs: each run then writes
        # into memory this VM has handed out before, as every later run does
        # (the first run into fresh memory was the slowest of all, app or batch).
        shutil.rmtree(work / "warm")
        for n in range(args.runs):
            fronts = ("app", "batch", "keys") if n % 2 == 0 else ("keys", "batch", "app")
            for front in fronts:
                data_dir, home = licensed(work / "data"), licensed(work / "home")
                if front in ("app", "keys"):
                    got = drive_app(proxy.url, data_dir, home, keys=front == "keys")
                    problems = check_tree(data_dir, {k: md5s[k] for k in got["keys"]})
                    if problems or got["phase"] != "finished":
                        raise RuntimeError(f"the app's download was wrong: {got['phase']} {problems[:3]}")
                    cpu = f"app CPU {got['app_cpu']:.2f} s, engine CPU {got['engine_cpu']:.2f} s"
                    if front == "app":
                        app_rates.append(got["bytes"] / got["elapsed"])
                        key_rates.append(got["bytes"] / got["from_key"])
                    latencies += got["latencies"]
                    slow = [f"{m}s: {l * 1000:.0f} ms" for m, l in zip(got["moments"], got["latencies"]) if l > 0.1]
                    if slow:
                        print(f"   slow keys (seconds into the transfer: latency): {', '.join(slow)}", flush=True)
                else:
                    got = batch_download(proxy.url, data_dir, scenario.batch_args, home)
                    batch_rates.append(got["bytes"] / got["elapsed"])
                    cpu = f"CPU {got['cpu']:.2f} s"
                since = f" ({got['from_key']:.2f} s from the d press)" if "from_key" in got else ""
                print(f"   run {n + 1} {front:<5} {got['bytes'] / 1e6:8.1f} MB in {got['elapsed']:6.2f} s{since}  {cpu}",
                      flush=True)
            firsts.append(first_screen(proxy.url, licensed(work / "data"), licensed(work / "home")))
            print(f"   run {n + 1} first screen in {firsts[-1]:.2f} s", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    app_rate, batch_rate = statistics.median(app_rates), statistics.median(batch_rates)
    worst = max(latencies) if latencies else float("nan")
    ratio = app_rate / batch_rate
    lines = [f"### the app: {scenario.name} ({scenario.summary})", "",
             "| measure | value | target |", "|---|---:|---|",
             f"| app transfer rate (median of {args.runs}) | {app_rate / 1e6:.1f} MB/s | |",
             f"| app rate from the `d` press, engine start included (median) | "
             f"{statistics.median(key_rates) / 1e6:.1f} MB/s | |",
             f"| `--batch` transfer rate (median of {args.runs}) | {batch_rate / 1e6:.1f} MB/s | |",
             f"| app ÷ batch | {ratio:.2f}x | >= 0.95x: {'met' if ratio >= 0.95 else '**MISSED**'} |",
             f"| key press to screen change while downloading ({len(latencies)} presses) | median "
             f"{statistics.median(latencies) * 1000:.0f} ms, worst {worst * 1000:.0f} ms | "
             f"< 100 ms: {'met' if worst < 0.1 else '**MISSED**'} |",
             f"| first screen with the tree listed (tmux 80x24, median of {args.runs}) | "
             f"{statistics.median(firsts):.2f} s | |", ""]
    text = "\n".join(lines)
    print("\n" + text)
    if args.markdown:
        with open(args.markdown, "a") as out:
            out.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
