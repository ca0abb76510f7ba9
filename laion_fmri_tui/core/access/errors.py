"""Failures of the stimulus access service, each one redacted line.

Messages may quote what the server said, and the server may echo a request
id or a presigned URL, so every message is flattened to one line and passed
through :func:`~laion_fmri_tui.core.redact.redact` before it is stored.
"""

from __future__ import annotations

from laion_fmri_tui.core.errors import Category, LaionFmriError
from laion_fmri_tui.core.redact import redact

REQUEST_AGAIN_HINT = (
    "request access again with `laion-fmri-tui --batch --request-access ...` "
    "or in the app"
)


def one_line(text: object, limit: int = 300) -> str:
    """``text`` redacted, whitespace collapsed and cut to ``limit`` characters."""
    flat = " ".join(redact(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class AccessServiceError(LaionFmriError):
    """The access service refused or failed a request (not granted, unless noted)."""

    category = Category.NOT_GRANTED

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message, limit=600))


class TermsOutdatedError(AccessServiceError):
    """The terms of use changed since this request id accepted them."""

    def __init__(self, accept_url: str, terms_version: str) -> None:
        self.accept_url = accept_url
        self.terms_version = terms_version
        super().__init__(
            f"the stimulus terms of use changed (now version {terms_version}): "
            f"visit {accept_url}, accept the new terms, then re-run"
        )


class AccessRevokedError(AccessServiceError):
    """The maintainers revoked this request id; asking again will not help."""

    def __init__(self, detail: str = "") -> None:
        extra = f" (server said: {detail})" if detail else ""
        super().__init__(
            "your stimulus access was revoked; contact the dataset maintainers "
            f"if you think this is a mistake{extra}"
        )


class AccessNotFoundError(AccessServiceError):
    """The service does not know the request id (typo, other server, anonymised)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "the access service does not know this request id (mistyped, issued by "
            "another server, or anonymised after a year without downloads); "
            + REQUEST_AGAIN_HINT
        )


class RateLimitedError(AccessServiceError):
    """Still HTTP 429 after the allowed retries; transient, so unreachable."""

    category = Category.UNREACHABLE

    def __init__(self, retry_after: float | None, message: str | None = None) -> None:
        self.retry_after = retry_after
        when = f"in {retry_after:g} s" if retry_after is not None else "in a minute"
        super().__init__(
            message or f"the access service is rate limiting requests (HTTP 429); try again {when}"
        )


class ServiceUnreachableError(AccessServiceError):
    """No HTTP answer at all (DNS, refused, timeouts) after the retries."""

    category = Category.UNREACHABLE


class MalformedResponseError(AccessServiceError):
    """The service answered, but not in the protocol (not JSON, fields missing)."""

    category = Category.UNREACHABLE


class FormRejectedError(AccessServiceError):
    """The service rejected the form (HTTP 422); a user mistake."""

    category = Category.USAGE

    def __init__(self, field_errors: dict[str, str]) -> None:
        self.field_errors = {key: one_line(msg) for key, msg in field_errors.items()}
        listed = "; ".join(f"{key}: {msg}" for key, msg in self.field_errors.items())
        super().__init__(f"the access service rejected the form: {listed or 'no reason given'}")

    @classmethod
    def from_detail(cls, detail: object) -> FormRejectedError:
        """From a FastAPI 422 ``detail``: ``[{"loc": ["body", "email"], "msg": ...}]``."""
        found: dict[str, str] = {}
        items = detail if isinstance(detail, list) else [detail]
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("loc"), list):
                loc = [str(part) for part in item["loc"]]
                if len(loc) > 1 and loc[0] in ("body", "query", "path"):
                    loc = loc[1:]
                key, msg = ".".join(loc) or "form", str(item.get("msg", "invalid"))
            elif isinstance(item, dict):
                key, msg = "form", str(item.get("msg", item))
            else:
                key, msg = "form", str(item)
            msg = msg.removeprefix("Value error, ")
            found[key] = f"{found[key]}; {msg}" if key in found else msg
        return cls(found)


class FormInvalidError(LaionFmriError, ValueError):
    """The form failed local validation before anything was sent; a user mistake."""

    category = Category.USAGE

    def __init__(self, field_errors: dict[str, str]) -> None:
        self.field_errors = dict(field_errors)
        listed = "; ".join(f"{key}: {msg}" for key, msg in self.field_errors.items())
        super().__init__(one_line(f"the access form is incomplete: {listed}", limit=600))


class AccessRequiredError(AccessServiceError):
    """Stimulus files must be fetched but no request id is known."""

    def __init__(self) -> None:
        super().__init__(
            "the stimulus images need a data-use agreement: run "
            "`laion-fmri-tui --batch --request-access --name ... --email ... --institution ... "
            "--purpose ... --accept-terms` once (or fill in the form in the app), "
            "or set LAION_FMRI_REQUEST_ID"
        )
