"""Every failure kind: its ``--json`` string, which scripts read, and what the
engine does with it, declared on :class:`FailKind` itself."""

from __future__ import annotations

from pathlib import Path

from laion_fmri_tui.batch.output import to_json
from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.events import FailKind

README = Path(__file__).resolve().parents[2] / "README.md"

JSON_STRINGS = {
    FailKind.DENIED: "denied", FailKind.MISSING: "missing", FailKind.CHANGED: "changed",
    FailKind.EXPIRED: "expired", FailKind.TRANSIENT: "transient", FailKind.ACCESS: "access",
    FailKind.ERROR: "error", FailKind.UNSAFE: "unsafe", FailKind.DISK: "disk", FailKind.VERIFY: "verify",
    FailKind.CANCELLED: "cancelled",
}


def test_every_kind_keeps_its_json_string_and_the_readme_names_it():
    assert set(JSON_STRINGS) == set(FailKind), "a new kind: give it a JSON string here and in the README"
    readme = README.read_text()
    for kind, string in JSON_STRINGS.items():
        assert to_json(ev.FileFailed("k", "why", kind))["kind"] == string
        assert f"`{string}`" in readme, f"the README does not list {string!r}"


def test_what_the_engine_does_with_each_kind_is_declared_on_it():
    assert {k for k in FailKind if k.retried} == {FailKind.TRANSIENT, FailKind.EXPIRED}
    assert {k for k in FailKind if k.discards_part} == {FailKind.DENIED, FailKind.CHANGED, FailKind.MISSING}
    assert {k for k in FailKind if k.skips} == {FailKind.DENIED}
