"""Turn the runs into tables: medians per contender, ratios to ours, targets.

A contender with any run whose bytes did not match is shown as failed and
never counts as the best. Ratios are throughput ratios (MB/s, or files/s
where a scenario is mostly requests), all from the one run of the bench.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from scenarios import UPLOAD_PART


@dataclass
class Row:
    name: str
    wall: float
    cpu: float
    rss: int
    bytes: int
    files: int
    requests: int
    connections: int
    peak: int
    ok: bool
    sampled: bool
    rig_cpu: float = 0.0

    @property
    def mbps(self) -> float:
        return self.bytes / 1e6 / self.wall

    @property
    def files_per_s(self) -> float:
        return self.files / self.wall

    @property
    def cpu_per_gb(self) -> float:
        return self.cpu / (self.bytes / 1e9) if self.bytes else 0.0

    @property
    def rig_cpu_per_gb(self) -> float:
        return self.rig_cpu / (self.bytes / 1e9) if self.bytes else 0.0


def rows(runs, total_files: int) -> list[Row]:
    """One row per contender, in first-seen order, from the medians of its runs."""
    grouped: dict[str, list] = {}
    for run in runs:
        grouped.setdefault(run.contender, []).append(run)
    out = []
    for name, group in grouped.items():
        med = lambda f, group=group: statistics.median(f(r) for r in group)  # noqa: E731
        out.append(Row(name, med(lambda r: r.wall), med(lambda r: r.cpu), int(med(lambda r: r.rss)),
                       group[0].bytes, group[0].files, int(med(lambda r: r.proxy.get("requests", 0))),
                       int(med(lambda r: r.proxy.get("connections", 0))),
                       int(med(lambda r: r.proxy.get("peak_requests", 0))),
                       all(not r.problems for r in group), group[0].files < total_files,
                       med(lambda r: r.rig_cpu)))
    return out


def _verdict(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def size_only(scenario, etags: str) -> tuple[int, int]:
    """(bytes, objects) of the scenario that laion-fmri-tui checks only by size:
    a multipart ETag (``aws s3 cp`` uploads in 8 MiB parts above 8 MiB) that
    no whole-MiB part size fits, or too many do (see ``candidate_part_sizes``)."""
    from laion_fmri_tui.core.integrity.content_checks import candidate_part_sizes

    unchecked = [size for _, size in scenario.files
                 if etags == "aws-cli" and size > UPLOAD_PART
                 and not candidate_part_sizes(size, -(-size // UPLOAD_PART))]
    return sum(unchecked), len(unchecked)


def transfer_table(name: str, scenario, runs, md5_per_gb: float | None = None,
                   lanes_per_gb: float | None = None, lanes: int = 1, etags: str = "md5") -> list[str]:
    table = rows(runs, len(scenario.files))
    ours = next(r for r in table if r.name.startswith("laion-fmri-tui") and not r.name.endswith("--no-fsync"))
    lines = [f"### {name}: {scenario.summary}", "",
             f"{len(scenario.files)} files, {scenario.total_bytes / 1e6:,.1f} MB; medians of {len(runs) // len(table)} runs.",
             "",
             "| contender | wall s | MB/s | files/s | CPU s/GB | rig CPU s/GB | peak RSS MB | requests | conns "
             "| peak conc | ours ÷ it |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table:
        label = r.name + (" (sample)" if r.sampled else "") + ("" if r.ok else " **BYTES WRONG**")
        ratio = ours.mbps / r.mbps if r.mbps else float("inf")
        lines.append(f"| {label} | {r.wall:.2f} | {r.mbps:.1f} | {r.files_per_s:.0f} | {r.cpu_per_gb:.2f} | "
                     f"{r.rig_cpu_per_gb:.2f} | {r.rss / 1e6:.0f} | {r.requests} | {r.connections} | {r.peak} | {ratio:.2f}x |")
    peers = [r for r in table if not r.name.startswith(("laion-fmri-tui", "aws s3 cp per file")) and r.ok]
    unflushed = next((r for r in table if r.name.endswith("--no-fsync")), None)
    sequential = next((r for r in table if r.name == "aws s3 cp per file"), None)
    s5 = [r for r in table if r.name.startswith("s5cmd") and r.ok]
    lines.append("")
    if peers:
        best = max(peers, key=lambda r: r.mbps)
        lines.append(f"- throughput vs the best other tool ({best.name}): {ours.mbps / best.mbps:.2f}x "
                     f"(target >= 1.0x): {_verdict(ours.ok and ours.mbps >= best.mbps)}")
    if unflushed is not None and unflushed.ok:
        lines.append(f"- fdatasync before each rename (the default) runs at {ours.mbps / unflushed.mbps:.2f}x "
                     f"of `--no-fsync`")
    if sequential and sequential.ok:
        lines.append(f"- throughput vs one `aws s3 cp` per file in sequence: {ours.mbps / sequential.mbps:.1f}x "
                     f"(target >= 5x): {_verdict(ours.ok and ours.mbps >= 5 * sequential.mbps)}")
    if s5:
        lean = min(s5, key=lambda r: r.cpu_per_gb)
        lines.append(f"- client CPU per GB vs {lean.name}: {ours.cpu_per_gb / lean.cpu_per_gb:.2f}x "
                     f"(target <= 1.5x): {_verdict(ours.cpu_per_gb <= 1.5 * lean.cpu_per_gb)}")
    unchecked, objects = size_only(scenario, etags)
    if unchecked:
        lines.append(f"- laion-fmri-tui checks {(scenario.total_bytes - unchecked) / 1e6:,.1f} of the "
                     f"{scenario.total_bytes / 1e6:,.1f} MB against their ETags; the other {objects} objects "
                     "have a multipart ETag that more than one part size fits (64 MiB in 8 parts: 8 or 9 MiB), "
                     "so like s5cmd and the AWS CLI it checks only their size")
    if md5_per_gb:
        lines.append(f"- laion-fmri-tui checks {'every byte' if not unchecked else 'those bytes'} against "
                     f"the ETags (MD5): {md5_per_gb:.2f} CPU s/GB for one "
                     "stream at a time on this machine"
                     + (f", {lanes_per_gb:.2f} for {lanes} streams at once on SIMD lanes (multipart parts, files in "
                        "flight)" if lanes_per_gb and lanes > 1 else "")
                     + "; s5cmd and the AWS CLI check no content")
    stolen = [r.steal for r in runs]
    if any(stolen):
        lines.append(f"- CPU time the hypervisor gave to other machines during these runs: median "
                     f"{statistics.median(stolen):.0%}, worst {max(stolen):.0%}")
    if not ours.ok:
        lines.append("- laion-fmri-tui's bytes were WRONG in at least one run: no target counts")
    return lines + [""]


def listing_table(name: str, scenario, runs) -> list[str]:
    table = rows(runs, len(scenario.files))
    ours = next(r for r in table if r.name.startswith("laion-fmri-tui"))
    lines = [f"### {name}: {scenario.summary}", "",
             "| contender | wall s | CPU s | peak RSS MB | requests | peak conc | keys ok |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in table:
        lines.append(f"| {r.name} | {r.wall:.2f} | {r.cpu:.2f} | {r.rss / 1e6:.0f} | {r.requests} | {r.peak} | "
                     f"{'yes' if r.ok else 'NO'} |")
    lines += ["", f"- plan of `--subject all` in {ours.wall:.2f} s (target < 10 s): {_verdict(ours.ok and ours.wall < 10)}",
              f"- peak RSS {ours.rss / 1e6:.0f} MB (target < 300 MB): {_verdict(ours.rss < 300e6)}", ""]
    return lines


def render(results: dict, scenarios: dict, machine: dict, settings: dict) -> str:
    tools = ", ".join(f"{k} {v}" for k, v in machine["tools"].items())
    lines = ["## Latest results", "",
             f"Machine: {machine['cores']} cores ({machine['cpu']}), Python {machine['python']}, "
             f"Linux {machine['kernel']}. Tools: {tools}.",
             f"Link: {settings['ttfb_ms']:.0f} ms per request, {settings['conn_rate']} bytes/s per connection"
             + (f", {settings['total_rate']} in total" if settings["total_rate"] else "")
             + ("; object bytes sent by the proxy (sendfile from tmpfs), listings by rclone serve s3 behind it"
                if settings.get("objects") == "proxy" else "; rclone serve s3 behind the shaping proxy")
             + ("; ETags as an `aws s3 cp` upload leaves them (multipart in 8 MiB parts above 8 MiB)"
                if settings.get("etags", "md5") == "aws-cli" else "; every ETag an MD5 (single-PUT uploads)")
             + f"; data and downloads in {settings['root']}; "
             f"scale {settings['scale']}; per-file contenders on {settings['per_file_sample']} keys"
             + (f"; {settings['pinning']}." if settings.get("pinning") else "; not pinned."), ""]
    for name, runs in results.items():
        if name == "listing":
            lines += listing_table(name, scenarios[name], runs)
        else:
            lines += transfer_table(name, scenarios[name], runs, machine.get("md5_cpu_per_gb"),
                                    machine.get("md5_lanes_cpu_per_gb"), machine.get("md5_lanes", 1),
                                    settings.get("etags", "md5"))
    return "\n".join(lines)
