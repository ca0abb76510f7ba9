"""Server-side checks of the two POST bodies, with FastAPI-shaped 422 details.

Upstream's client posts whatever was typed and relies on the server to
complain (UPSTREAM.md §5), so the reference service must reject each bad
field with its own ``{"loc", "msg", "type"}`` entry exactly as a FastAPI
app would, letting the client's 422 mapping be tested field by field.
"""

from __future__ import annotations

import json
import re
from typing import Any

MIN_PURPOSE_CHARS = 20
DATASET_VERSIONS = ("v1",)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")

FieldErrors = list[dict[str, Any]]


def error(msg: str, *loc: str | int) -> dict[str, Any]:
    """One FastAPI-style validation entry."""
    return {"loc": ["body", *loc], "msg": msg, "type": "value_error"}


def parse_body(raw: bytes) -> tuple[dict[str, Any] | None, FieldErrors]:
    """The JSON object in ``raw``, or the errors that make it unusable."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, [error("JSON decode error")]
    if not isinstance(body, dict):
        return None, [error("Input should be a valid dictionary")]
    return body, []


def _text(body: dict[str, Any], field: str, errors: FieldErrors, *, required: bool = True) -> str | None:
    """A string field (stripped); records an error when missing or not a string."""
    if field not in body or (body[field] is None and not required):
        if required:
            errors.append(error("Field required", field))
        return None
    value = body[field]
    if not isinstance(value, str):
        errors.append(error("Input should be a valid string", field))
        return None
    return value.strip()


def validate_request(body: dict[str, Any], terms_version: str) -> FieldErrors:
    """Every problem with an access-request form, one entry per bad field."""
    errors: FieldErrors = []
    for field in ("name", "institution"):
        value = _text(body, field, errors)
        if value == "":
            errors.append(error("Value error, must not be empty", field))
    email = _text(body, "email", errors)
    if email is not None and not _EMAIL.match(email):
        errors.append(error("value is not a valid email address: must look like name@domain.tld", "email"))
    _text(body, "pi_or_supervisor", errors, required=False)
    purpose = _text(body, "research_purpose", errors)
    if purpose is not None and len(purpose) < MIN_PURPOSE_CHARS:
        errors.append(error(f"Value error, research_purpose must be at least {MIN_PURPOSE_CHARS} characters",
                            "research_purpose"))
    for field in ("accepted_terms", "acknowledged_privacy"):
        if field not in body:
            errors.append(error("Field required", field))
        elif body[field] is not True:
            errors.append(error(f"Value error, {field} must be true", field))
    version = _text(body, "terms_version", errors)
    if version is not None and version != terms_version:
        errors.append(error(f"Value error, terms_version must be the current version {terms_version!r}",
                            "terms_version"))
    _text(body, "source", errors, required=False)
    return errors


def validate_refresh(body: dict[str, Any]) -> FieldErrors:
    """Problems with a refresh body (a missing dataset_version means v1)."""
    errors: FieldErrors = []
    _text(body, "request_id", errors)
    version = _text(body, "dataset_version", errors, required=False)
    if version is not None and version not in DATASET_VERSIONS:
        errors.append(error(f"Value error, unknown dataset_version (known: {', '.join(DATASET_VERSIONS)})",
                            "dataset_version"))
    return errors
