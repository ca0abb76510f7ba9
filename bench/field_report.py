"""Tables and targets of the field bench: one markdown table per scenario, the
targets it is held to (value, target, ratio, met or missed), all from the one run.

A contender with a failed command or a wrong byte is marked and never counts
as the best peer. Values are medians over the runs of a contender.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

from field_scenarios import LINK_TOTAL, Field, Kind


@dataclass
class Target:
    measure: str
    value: str
    target: str
    met: bool | None
    """None: not judged (a quick run's scaled-down plan, a missing peer)."""
    ratio: float | None = None

    def line(self) -> str:
        verdict = "met" if self.met else ("**MISSED**" if self.met is False else "not judged")
        ratio = f" ({self.ratio:.2f}x)" if self.ratio is not None else ""
        return f"| {self.measure} | {self.value}{ratio} | {self.target} | {verdict} |"


def _median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else 0.0


def transfer_rows(runs: list[dict]) -> list[dict]:
    """One row per contender (first-seen order) from the medians of its runs."""
    grouped: dict[str, list[dict]] = {}
    for run in runs:
        grouped.setdefault(run["contender"], []).append(run)
    rows = []
    for name, group in grouped.items():
        wall = _median(r["wall"] for r in group)
        rows.append({"name": name, "wall": wall, "mbps": group[0]["bytes"] / 1e6 / wall if wall else 0.0,
                     "files_per_s": group[0]["files"] / wall if wall else 0.0,
                     "cpu": _median(r["cpu"] for r in group), "rig_cpu": _median(r["rig_cpu"] for r in group),
                     "rss": _median(r["rss"] for r in group),
                     "requests": int(_median(r["proxy"].get("requests", 0) for r in group)),
                     "conns": int(_median(r["proxy"].get("connections", 0) for r in group)),
                     "peak": int(_median(r["proxy"].get("peak_requests", 0) for r in group)),
                     "throttled": int(_median(r["proxy"].get("throttled", 0) for r in group)),
                     "first": _median(r["proxy"].get("first_object") or 0.0 for r in group),
                     "after": _median(r["bytes"] / 1e6 / max(1e-3, r["wall"] - (r["proxy"].get("first_object") or 0.0))
                                      for r in group),
                     "load": _median(r.get("load", 0.0) for r in group),
                     "ok": all(not r["problems"] for r in group),
                     "problems": sorted({p for r in group for p in r["problems"]})[:3],
                     "runs": len(group)})
    return rows


def transfer_section(field: Field, runs: list[dict]) -> tuple[list[str], list[Target]]:
    rows = transfer_rows(runs)
    ours = next(r for r in rows if r["name"].startswith("laion-fmri-tui"))
    lines = ["| contender | wall s | MB/s | first GET s | MB/s after it | files/s | client CPU s | rig CPU s "
             "| peak RSS MB | requests | 503s | conns | peak in flight | load | ours ÷ it |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        label = r["name"] + ("" if r["ok"] else " **FAILED**")
        ratio = ours["mbps"] / r["mbps"] if r["mbps"] else float("inf")
        lines.append(f"| {label} | {r['wall']:.2f} | {r['mbps']:.1f} | {r['first']:.2f} | {r['after']:.1f} | "
                     f"{r['files_per_s']:.0f} | {r['cpu']:.2f} | {r['rig_cpu']:.2f} | {r['rss'] / 1e6:.0f} | "
                     f"{r['requests']} | {r['throttled']} | {r['conns']} | {r['peak']} | {r['load']:.1f} | "
                     f"{ratio:.2f}x |")
    for r in rows:
        if not r["ok"]:
            lines.append(f"\n{r['name']} failed: {'; '.join(r['problems'])}")
    targets = []
    peers = [r for r in rows if r is not ours and r["ok"]]
    if field.request_rate:
        targets.append(Target("no failed file (ours)", "none failed" if ours["ok"] else "; ".join(ours["problems"]),
                              "no failed file", ours["ok"]))
    if peers:
        best = max(peers, key=lambda r: r["mbps"])
        ratio = ours["mbps"] / best["mbps"]
        targets.append(Target(f"throughput vs the best peer ({best['name']})", f"{ours['mbps']:.1f} MB/s against "
                              f"{best['mbps']:.1f}", ">= 1.0x", ours["ok"] and ratio >= 1.0, ratio))
    else:
        targets.append(Target("throughput vs the best peer", "no peer finished", ">= 1.0x", None))
    if field.link.total_rate and field.data == "large" and field.kind is Kind.TRANSFER:
        share = ours["mbps"] * 1e6 / LINK_TOTAL
        targets.append(Target("share of the link's 125 MB/s", f"{ours['mbps']:.1f} MB/s", ">= 90%",
                              ours["ok"] and share >= 0.9, share))
    return lines, targets


def listing_section(field: Field, runs: list[dict], keys: int, full_size: bool) -> tuple[list[str], list[Target]]:
    rows = transfer_rows(runs)
    ours = next(r for r in rows if r["name"].startswith("laion-fmri-tui"))
    lines = ["| contender | wall s | client CPU s | peak RSS MB | requests | peak in flight | keys ok | ours ÷ it |",
             "|---|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['rss'] / 1e6:.0f} | {r['requests']} | "
                     f"{r['peak']} | {'yes' if r['ok'] else 'NO'} | {r['wall'] / ours['wall']:.2f}x |")
    judged = (lambda ok: ok) if full_size else (lambda ok: None)
    targets = [Target(f"plan of {keys:,} keys, wall", f"{ours['wall']:.2f} s", "< 10 s",
                      judged(ours["ok"] and ours["wall"] < 10)),
               Target(f"plan of {keys:,} keys, peak RSS", f"{ours['rss'] / 1e6:.0f} MB", "< 300 MB",
                      judged(ours["rss"] < 300e6))]
    for r in rows:
        if r is not ours and r["ok"]:
            targets.append(Target(f"plan vs {r['name']} (time, theirs ÷ ours)", f"{ours['wall']:.2f} s against "
                                  f"{r['wall']:.2f} s", ">= 1.0x", ours["ok"] and ours["wall"] <= r["wall"],
                                  r["wall"] / ours["wall"]))
    return lines, targets


def kills_section(result: dict) -> tuple[list[str], list[Target]]:
    plain, cut = result["uninterrupted"], result["interrupted"]
    size = result["selection_bytes"]
    lines = ["| run | wall s | starts | SIGKILLs | bytes sent MB | ÷ selection | files ok |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name, run in (("uninterrupted", plain), (f"killed every {result['kill_every']:.0f} s", cut)):
        lines.append(f"| {name} | {run['wall']:.1f} | {run['starts']} | {run['kills']} | {run['bytes'] / 1e6:.1f} | "
                     f"{run['bytes'] / size:.3f}x | {'yes' if not run['problems'] else 'NO: ' + run['problems'][0]} |")
    byte_ratio = cut["bytes"] / size
    time_ratio = cut["wall"] / plain["wall"]
    targets = [Target("bytes fetched ÷ selection size", f"{cut['bytes'] / 1e6:.1f} of {size / 1e6:.1f} MB",
                      "<= 1.05x", not cut["problems"] and byte_ratio <= 1.05, byte_ratio),
               Target("time ÷ uninterrupted run", f"{cut['wall']:.1f} s against {plain['wall']:.1f} s", "<= 1.2x",
                      not cut["problems"] and time_ratio <= 1.2, time_ratio),
               Target("every file complete and identical", "yes" if not cut["problems"] else "no", "yes",
                      not cut["problems"])]
    return lines, targets


def app_section(result: dict, rtt_ms: float) -> tuple[list[str], list[Target]]:
    lines = ["| measure | median | worst | samples |", "|---|---:|---:|---:|"]
    first, listed, levels = result["first_frame"], result["tree_listed"], result["levels"]
    lines.append(f"| first frame, warm start (tmux 80x24) | {_median(first):.2f} s | {max(first):.2f} s | {len(first)} |")
    lines.append(f"| tree listed (sub-01 shown) | {_median(listed):.2f} s | {max(listed):.2f} s | {len(listed)} |")
    lines.append(f"| a tree level opens ({', '.join(result['level_names'])}) | {_median(levels) * 1000:.0f} ms | "
                 f"{max(levels) * 1000:.0f} ms | {len(levels)} |")
    targets = [Target("first frame (warm)", f"{max(first):.2f} s worst", "< 1.5 s", max(first) < 1.5),
               Target(f"a tree level opens at {rtt_ms:.0f} ms", f"{max(levels) * 1000:.0f} ms worst",
                      f"< {rtt_ms + 50:.0f} ms (one round trip + 50 ms)", max(levels) < (rtt_ms + 50) / 1000)]
    for link, keys in result["keys"].items():
        if keys["latencies"]:
            worst = max(keys["latencies"])
            lines.append(f"| key press to screen change while downloading, {link} | "
                         f"{_median(keys['latencies']) * 1000:.0f} ms | {worst * 1000:.0f} ms | "
                         f"{len(keys['latencies'])} |")
            targets.append(Target(f"keys while downloading, {link}", f"{worst * 1000:.0f} ms worst", "< 100 ms",
                                  worst < 0.1))
        else:
            targets.append(Target(f"keys while downloading, {link}", keys.get("error", "no key pressed"), "< 100 ms",
                                  False))
    return lines, targets


def render(field: Field, heading: str, lines: list[str], targets: list[Target]) -> str:
    out = [f"### {field.name}: {heading}", "", *lines, "", "| target | value | wanted | |", "|---|---:|---|---|",
           *(t.line() for t in targets), ""]
    return "\n".join(out)


def as_json(targets: list[Target]) -> list[dict]:
    return [asdict(t) for t in targets]


def summary(results: dict[str, dict]) -> str:
    """One table of every target of the run: the README's "Speed" table."""
    lines = ["| scenario | target | value | wanted | |", "|---|---|---:|---|---|"]
    for name, result in results.items():
        for t in result["targets"]:
            target = Target(**t)
            lines.append(f"| {name} |{target.line()[1:]}")
    return "\n".join(lines)
