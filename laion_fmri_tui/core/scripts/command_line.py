"""A :class:`Selection` printed back as a ``--batch`` command and a SLURM script.

What a user ticks by hand in the app should be repeatable on a cluster
without the app, so the argv here must parse (through ``batch.args``) to an
*equal* Selection. The tests hold that round trip over many selections.

Choices made for exactness rather than brevity:

* components: ``--include-*`` when they are a superset of the default (the
  common case, and how upstream users think), otherwise ``--only``;
* ``--include-embeddings`` stays bare only when it means all four models in
  their canonical order; otherwise every model is named, in order;
* a filter value that starts with ``-`` is written ``--flag=value`` so
  argparse cannot take it for an option.

The request id for the gated stimuli is a secret: it is never written out;
the script tells the user to pass it through ``LAION_FMRI_REQUEST_ID``.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from laion_fmri_tui.core.errors import LaionFmriError, UsageError
from laion_fmri_tui.core.http.network import parse_proxy
from laion_fmri_tui.core.settings import NetworkSettings
from laion_fmri_tui.core.units import count
from laion_fmri_tui.core.plan.selection import (
    COMPONENTS, DEFAULT_COMPONENTS, EMBEDDING_MODELS, Filters, Selection,
)

PROG = "laion-fmri-tui"
REQUEST_ID_ENV = "LAION_FMRI_REQUEST_ID"
PROXY_WITHHELD = ("The proxy's password is not written here: export "
                  "HTTPS_PROXY=http://USER:PASS@HOST:PORT where this runs.")
# The order of batch.args.FILTER_FLAGS, so printed commands read like --help.
_FILTER_ORDER = ("ses", "task", "space", "desc", "stat", "suffix", "extension", "run", "echo", "part")


def selection_argv(selection: Selection, *, data_dir: Path | None = None,
                   accept_license: bool = True) -> list[str]:
    """``["laion-fmri-tui", "--batch", ...]`` that reproduces *selection* exactly.

    Raises:
        ValueError: the selection is empty or cannot be expressed as flags
            (no components, or one that ``--only`` does not know).
    """
    if selection.is_empty:
        raise ValueError("nothing selected: tick subjects or stimulus files first")
    argv = [PROG, "--batch"]
    if selection.subjects:
        argv += ["--subject", *selection.subjects]
    argv += _filter_flags(selection.filters)
    argv += _component_flags(selection.components)
    if selection.embeddings:
        argv.append("--include-embeddings")
        if tuple(selection.embeddings) != EMBEDDING_MODELS:
            argv += list(selection.embeddings)
    for flag, wanted in (("--include-segmentations", selection.segmentations),
                         ("--include-captions", selection.captions),
                         ("--include-stimuli", selection.stimuli)):
        if wanted:
            argv.append(flag)
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    if accept_license:
        argv.append("--accept-license")
    return argv


def service_flags(selection: Selection, endpoint_url: str | None = None,
                  access_url: str | None = None, network: NetworkSettings | None = None) -> list[str]:
    """``--endpoint-url`` (and, for the gated stimuli, ``--access-url``) the
    app was pointed at: a command without them would go to AWS and to the
    production access service instead (``--demo``, a mirror, a test server).
    Then the app's own ``--proxy`` and ``--ca-bundle`` (see :func:`network_flags`)."""
    out = ["--endpoint-url", endpoint_url] if endpoint_url else []
    if access_url and selection.stimuli:
        out += ["--access-url", access_url]
    return out + network_flags(network)


def network_flags(network: NetworkSettings | None) -> list[str]:
    """The app's ``--proxy`` and ``--ca-bundle``, so the command goes the way the app does.

    The bundle is made absolute (the command may run from another folder). A
    proxy URL with credentials is left out: they are a secret and never
    written (:func:`proxy_withheld`); the environment's proxies need no flag,
    the command reads them as the app did.
    """
    if network is None:
        return []
    out = ["--proxy", network.proxy] if network.proxy and not proxy_withheld(network) else []
    if network.ca_bundle:
        out += ["--ca-bundle", str(Path(network.ca_bundle).expanduser().absolute())]
    return out


def proxy_withheld(network: NetworkSettings | None) -> bool:
    """True when the app's ``--proxy`` holds ``user:pass@``, so it is not written out."""
    if network is None or not network.proxy:
        return False
    try:
        return parse_proxy(network.proxy).authorization is not None
    except UsageError:  # not a proxy URL at all: the app refused it already; write nothing of it
        return True


def command_line(selections: Sequence[Selection], data_dir: Path | None, *,
                 program: Sequence[str] = (PROG,), endpoint_url: str | None = None,
                 access_url: str | None = None, network: NetworkSettings | None = None) -> str:
    """One shell-quoted line per selection (empty selections are skipped).

    *program* replaces ``laion-fmri-tui`` (the app passes the absolute path
    of itself, so the line runs where the venv is not on PATH)."""
    return "\n".join(
        shlex.join([*program, *selection_argv(s, data_dir=data_dir)[1:],
                    *service_flags(s, endpoint_url, access_url, network)])
        for s in selections if not s.is_empty)


def slurm_script(selections: Sequence[Selection], data_dir: Path | None, *,
                 job_name: str = "laion-fmri", time: str | None = None,
                 partition: str | None = None, cpus_per_task: int | None = None,
                 log_dir: Path | None = None, shards: int | None = None,
                 program: Sequence[str] = (PROG,), extra_args: Sequence[str] = (),
                 endpoint_url: str | None = None, access_url: str | None = None,
                 network: NetworkSettings | None = None) -> str:
    """A ready-to-``sbatch`` bash script running the commands one after another.

    With *shards* it is an array job (``--array=0-(N-1)``, logs ``%A_%a``)
    whose task K runs every command with ``--shard K/N``, so the tasks split
    the files between them (``--batch --emit-sbatch`` writes a script of a
    frozen plan instead: :mod:`laion_fmri_tui.core.scripts.array_script`). *program* replaces ``laion-fmri-tui`` (e.g.
    ``[sys.executable, "-m", "laion_fmri_tui"]`` where the entry point is not
    on the job's PATH); *extra_args* go on every line, after the flags of
    :func:`service_flags`.

    Raises:
        ValueError: a directive value holds whitespace (sbatch splits on it),
            ``cpus_per_task`` or ``shards`` is below 1, or nothing is selected.
    """
    if shards is not None and shards < 1:
        raise ValueError(f"shards must be at least 1 (got {shards})")
    # Only this literal is left unquoted for the shell; every user value is quoted. N is
    # written in, not read from SLURM_ARRAY_TASK_COUNT: that is 1 when one task is
    # resubmitted on its own (sbatch --array=K), which would change the split.
    shard = f' --shard "$SLURM_ARRAY_TASK_ID/{shards}"' if shards is not None else ""
    commands = "\n".join(
        shlex.join([*program, *selection_argv(s, data_dir=data_dir)[1:],
                    *service_flags(s, endpoint_url, access_url, network), *extra_args]) + shard
        for s in selections if not s.is_empty)
    if not commands:
        raise ValueError("nothing selected: tick subjects or stimulus files first")
    stem = f"{job_name}-%A_%a" if shards is not None else f"{job_name}-%j"
    log = f"{log_dir}/{stem}.log" if log_dir is not None else f"{stem}.log"
    directives = [("job-name", job_name), ("output", log)]
    if shards is not None:
        directives.append(("array", f"0-{shards - 1}"))
    if partition is not None:
        directives.append(("partition", partition))
    if time is not None:
        directives.append(("time", time))
    if cpus_per_task is not None:
        if cpus_per_task < 1:
            raise ValueError(f"cpus-per-task must be at least 1 (got {cpus_per_task})")
        directives.append(("cpus-per-task", str(cpus_per_task)))
    lines = ["#!/bin/bash"]
    for name, value in directives:
        if not value or any(ch.isspace() for ch in value):
            raise ValueError(f"#SBATCH --{name} cannot be empty or contain spaces: {value!r}")
        lines.append(f"#SBATCH --{name}={value}")
    lines += ["", f"# Generated by {PROG}. Submit with: sbatch <this file>"]
    if shards is not None:
        lines.append(f"# Array of {count(shards, 'task')}: task K fetches shard K/{shards} of the files.")
    if any(s.stimuli for s in selections):
        lines += [
            "#",
            "# Stimulus images are gated. The request id comes from",
            f"# {REQUEST_ID_ENV} in the job's environment (else auth.json);",
            "# it is never written here. Submit with e.g.:",
            f"#   {REQUEST_ID_ENV}=<id> sbatch --export=ALL <this file>",
        ]
    if proxy_withheld(network):
        lines += ["#", f"# {PROXY_WITHHELD}"]
    if log_dir is not None:
        lines += ["# The log folder must exist before the job starts:",
                  f"#   mkdir -p {shlex.quote(str(log_dir))}"]
    lines += ["", "set -euo pipefail", "", commands, ""]
    return "\n".join(lines)


def write_command_file(path: Path, text: str, *, executable: bool) -> Path:
    """Write *text* to *path* (mode 0755 for a script, 0644 otherwise); returns the path.

    The folder must exist already: creating one at a mistyped path would
    hide the typo. Replaces an existing file (the caller asks first).

    Raises:
        LaionFmriError: one line naming the path and what is wrong.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise LaionFmriError(f"is a folder, give a file name: {path}")
    if not path.parent.is_dir():
        raise LaionFmriError(f"folder does not exist: {path.parent}")
    try:
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        path.chmod(0o755 if executable else 0o644)
    except PermissionError as exc:
        raise LaionFmriError(f"no permission to write {path}") from exc
    except OSError as exc:
        raise LaionFmriError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def _filter_flags(filters: Filters) -> list[str]:
    out: list[str] = []
    active = filters.active()
    for name in _FILTER_ORDER:
        values = active.get(name, ())
        if not values:
            continue
        if any(v.startswith("-") for v in values):
            out += [f"--{name}={_prefixed(name, v)}" for v in values]
        else:
            out += [f"--{name}", *(_prefixed(name, v) for v in values)]
    return out


def _prefixed(name: str, value: str) -> str:
    """Re-add ``ses-`` only where stripping it again would not lose a prefix.

    ``Filters.build`` strips one ``<entity>-``; a stored value that itself
    starts with it (``ses-ses-01`` was given) needs the prefix put back.
    """
    if name in ("suffix", "extension"):
        return value
    return f"{name}-{value}" if value.startswith(f"{name}-") else value


def _component_flags(components: frozenset[str]) -> list[str]:
    unknown = sorted(set(components) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"unknown component(s) {', '.join(unknown)}; choose from {', '.join(COMPONENTS)}")
    if not components:
        raise ValueError("no per-subject components selected")
    if components == DEFAULT_COMPONENTS:
        return []
    ordered = [c for c in COMPONENTS if c in components]
    if components >= DEFAULT_COMPONENTS:
        return [f"--include-{c}" for c in ordered if c not in DEFAULT_COMPONENTS]
    return ["--only", *ordered]
