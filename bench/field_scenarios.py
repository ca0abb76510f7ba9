"""The field scenarios of the bench (far links, throttling, kills, a forward proxy).

Each :class:`Field` names a data set of ``scenarios.py`` at a scale, the link
the shaping proxy makes, who races, and which targets apply. Sizes are set so
that one full run of every scenario takes about 15 minutes on the 2-core
machine, and ``--quick`` about 3 (smaller data; the interrupted run on a
faster link with kills more often, in the same proportion).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    TRANSFER = "transfer"
    """Every contender copies the same selection; ratios of throughput."""
    LISTING = "listing"
    """Plan only (``--dry-run``) against recursive listings."""
    KILLS = "kills"
    """Ours alone: SIGKILL every few seconds until done, against an uninterrupted run."""
    APP = "app"
    """The app: first frame, a tree level, keys while downloading on each link."""


@dataclass(frozen=True)
class Link:
    ttfb_ms: float
    """Delay before each request is answered: the round trip."""
    conn_rate: str | None
    """Cap per connection (bytes/s)."""
    total_rate: str | None
    """Cap over all connections (bytes/s)."""
    label: str


BASE = Link(30, "20M", None, "30 ms, 20 MB/s per connection")
FAR = Link(150, "10M", "125M", "150 ms, 10 MB/s per connection, 125 MB/s in total")
SLOW = Link(30, "20M", "5M", "30 ms, 5 MB/s in total")
SLOW_QUICK = Link(30, "20M", "20M", "30 ms, 20 MB/s in total (--quick: 4x the rate, kills 4x as often)")

OURS = "laion-fmri-tui --batch"
TUNED_PEERS = ("s5cmd tuned", "aws s3 cp --recursive tuned", "rclone tuned")
THROTTLED_PEERS = ("s5cmd tuned", "aws s3 cp --recursive adaptive", "rclone tuned")
PROXY_PEERS = ("aws s3 cp --recursive", "aws s3 cp --recursive tuned")
LISTERS = ("laion-fmri-tui --batch --dry-run", "s5cmd ls", "aws s3 ls --recursive")

REQUEST_RATE = 150.0
"""GET/HEAD per second over all connections before ``503 SlowDown``: S3 allows
about 5,500 per prefix; scaled down as the data is."""
RETRY_AFTER = 1
LINK_TOTAL = 125e6
"""The far link's physical limit, bytes/s."""


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    data: str
    """A data set of ``scenarios.SCENARIOS``."""
    scale: float
    quick_scale: float
    link: Link
    contenders: tuple[str, ...] = ()
    request_rate: float | None = None
    forward_proxy: bool = False
    what: str = ""
    kill_every: float = 20.0
    """KILLS: seconds between SIGKILLs."""
    max_runs: int | None = None
    """At most this many runs per contender, whatever ``--runs`` says (the plan at
    distance: `aws s3 ls` of 100,000 keys at 150 ms takes minutes a run)."""

    def scaled(self, quick: bool) -> float:
        return self.quick_scale if quick else self.scale


SUBJECT_NOTE = """The subject stays at scale 0.125 (8 MiB betas: single-part ETags). At 0.25 its
16 MiB betas carry a 2-part ETag that eight whole-MiB part sizes fit (8-15 MiB);
laion-fmri-tui hashes every candidate, and a run cost it 10-11 CPU s against
s5cmd's 2 (bench/README.md, "Field findings"): real betas are hundreds of MiB,
where one part size fits."""

FIELDS = [
    Field("pinned-large", Kind.TRANSFER, "large", 0.25, 0.125, BASE, (OURS, *TUNED_PEERS),
          what="the lab link, server off the client's core"),
    Field("pinned-small", Kind.TRANSFER, "small", 0.25, 0.1, BASE, (OURS, *TUNED_PEERS),
          what="the lab link, server off the client's core"),
    Field("pinned-subject", Kind.TRANSFER, "subject", 0.125, 0.125, BASE, (OURS, *TUNED_PEERS),
          what="the lab link, server off the client's core"),
    Field("far-large", Kind.TRANSFER, "large", 0.25, 0.125, FAR, (OURS, *TUNED_PEERS), what="far link"),
    Field("far-small", Kind.TRANSFER, "small", 0.25, 0.1, FAR, (OURS, *TUNED_PEERS), what="far link"),
    Field("far-subject", Kind.TRANSFER, "subject", 0.125, 0.125, FAR, (OURS, *TUNED_PEERS), what="far link"),
    Field("throttled-small", Kind.TRANSFER, "small", 0.25, 0.1, BASE, (OURS, *THROTTLED_PEERS),
          request_rate=REQUEST_RATE, what="503 SlowDown above the request rate"),
    Field("throttled-subject", Kind.TRANSFER, "subject", 0.125, 0.125, BASE, (OURS, *THROTTLED_PEERS),
          request_rate=REQUEST_RATE, what="503 SlowDown above the request rate"),
    Field("interrupted", Kind.KILLS, "large", 0.125, 0.125, SLOW, (OURS,),
          what="slow link, SIGKILL every 20 s until done"),
    Field("proxy-large", Kind.TRANSFER, "large", 0.25, 0.125, BASE, (OURS, *PROXY_PEERS), forward_proxy=True,
          what="through a forward proxy (tinyproxy)"),
    Field("proxy-small", Kind.TRANSFER, "small", 0.25, 0.1, BASE, (OURS, *PROXY_PEERS), forward_proxy=True,
          what="through a forward proxy (tinyproxy)"),
    Field("plan-far", Kind.LISTING, "listing", 1.0, 0.2, FAR, LISTERS, what="100,000-key plan at 150 ms",
          max_runs=1),
    Field("app", Kind.APP, "subject", 0.125, 0.125, FAR, what="the app on each link"),
]
BY_NAME = {f.name: f for f in FIELDS}


def link_for(field: Field, quick: bool) -> tuple[Link, float]:
    """The link and kill interval a run uses (``--quick`` speeds the interrupted run up 4x)."""
    if field.kind is Kind.KILLS and quick:
        return SLOW_QUICK, field.kill_every / 4
    return field.link, field.kill_every
