"""The Data Use Agreement form: fields, labels and client-side checks.

Upstream posts whatever was typed and lets the server complain; we check
first so a mistake costs no round trip and each field gets its own message
(the app shows them as the user types, ``--batch`` lists them all at once).
Labels and help texts live here so both front ends word them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from laion_fmri_tui.core.access.errors import FormInvalidError

MIN_PURPOSE_CHARS = 20
SOURCE = "cli"

FIELD_LABELS: dict[str, str] = {
    "name": "Full name",
    "email": "Institutional email",
    "institution": "Institution / affiliation",
    "pi_or_supervisor": "PI / supervisor (optional)",
    "research_purpose": "Research purpose",
    "accepted_terms": "I have read and accept the LAION-fMRI Terms of Use",
    "acknowledged_privacy": "I have read the Privacy notice",
}

FIELD_HELP: dict[str, str] = {
    "name": "Your full name, as your institution knows you.",
    "email": "An address at your institution (e.g. jane.doe@uni-example.de).",
    "institution": "University, institute or company you work for.",
    "pi_or_supervisor": "Principal investigator or supervisor, if you have one.",
    "research_purpose": (
        f"Briefly describe how you will use the stimulus images (at least "
        f"{MIN_PURPOSE_CHARS} characters). Do NOT include patient names or "
        "special-category data about third parties."
    ),
    "accepted_terms": "The Data Use Agreement for the stimulus images (see the terms page).",
    "acknowledged_privacy": "How the access service stores your form data (see the privacy page).",
}

_REQUIRED_TEXT = {
    "name": "enter your full name",
    "institution": "enter your institution or affiliation",
}
_CHECKBOX = {
    "accepted_terms": "you must accept the Terms of Use to get the stimulus images",
    "acknowledged_privacy": "you must confirm that you have read the Privacy notice",
}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def email_problem(value: Any) -> str | None:
    """Why ``value`` is not a plausible email address, or None.

    A syntax check only (one ``@``, no spaces, a dotted domain); whether the
    address is institutional is for the service to judge.
    """
    email = _text(value)
    if not email:
        return "enter your institutional email address"
    local, at, domain = email.partition("@")
    if (
        not at
        or "@" in domain
        or not local
        or any(ch.isspace() for ch in email)
        or "." not in domain
        or domain.startswith(".")
        or domain.endswith(".")
        or ".." in domain
    ):
        return "not a valid email address (expected something like name@institution.edu)"
    return None


def validate_field(field: str, value: Any) -> str | None:
    """The problem with one field's value, or None when it is fine."""
    if field in _REQUIRED_TEXT:
        return None if _text(value) else _REQUIRED_TEXT[field]
    if field == "email":
        return email_problem(value)
    if field == "pi_or_supervisor":
        return None if value is None or isinstance(value, str) else "must be text"
    if field == "research_purpose":
        missing = MIN_PURPOSE_CHARS - len(_text(value))
        if missing > 0:
            plural = "" if missing == 1 else "s"
            return (
                f"describe your research purpose in at least {MIN_PURPOSE_CHARS} "
                f"characters ({missing} more character{plural} needed)"
            )
        return None
    if field in _CHECKBOX:
        return None if value is True else _CHECKBOX[field]
    raise KeyError(f"unknown access form field {field!r}")


@dataclass
class AccessForm:
    """What the user typed; mutable so a UI can fill it in field by field."""

    name: str = ""
    email: str = ""
    institution: str = ""
    pi_or_supervisor: str = ""
    research_purpose: str = ""
    accepted_terms: bool = False
    acknowledged_privacy: bool = False

    def validate(self) -> dict[str, str]:
        """Field name -> one message, in form order; empty when valid."""
        problems: dict[str, str] = {}
        for spec in fields(self):
            problem = validate_field(spec.name, getattr(self, spec.name))
            if problem:
                problems[spec.name] = problem
        return problems

    def to_payload(self, terms_version: str) -> dict[str, Any]:
        """The JSON body of ``POST /api/v1/access/request``.

        Raises :class:`FormInvalidError` (a ``ValueError``) when a field is
        invalid or the terms version (from the manifest) is missing.
        """
        problems = self.validate()
        if not (isinstance(terms_version, str) and terms_version.strip()):
            problems["terms_version"] = "unknown terms version (fetch the manifest first)"
        if problems:
            raise FormInvalidError(problems)
        return {
            "name": self.name.strip(),
            "email": self.email.strip(),
            "institution": self.institution.strip(),
            "pi_or_supervisor": self.pi_or_supervisor.strip() or None,
            "research_purpose": self.research_purpose.strip(),
            "accepted_terms": True,
            "acknowledged_privacy": True,
            "terms_version": terms_version.strip(),
            "source": SOURCE,
        }
