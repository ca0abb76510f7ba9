"""What the data-use form says about each way a request can fail.

Kept apart from the screen so the wording of every failure reads in one
place. Messages come from the core's redacted errors, so neither a request
id nor a signed URL can reach the screen.
"""

from __future__ import annotations

from laion_fmri_tui.core.access.errors import (
    AccessRevokedError, AccessServiceError, FormInvalidError, FormRejectedError, MalformedResponseError,
    RateLimitedError, ServiceUnreachableError, TermsOutdatedError, one_line,
)


def describe_failure(error: BaseException | None) -> tuple[str, str]:
    """``(state, text)`` for the form's state line; ``state`` names its CSS class."""
    if isinstance(error, TermsOutdatedError):
        return "terms-changed", (
            f"The Terms of Use changed (now version {error.terms_version}). Accept them at "
            f"{error.accept_url}, tick the box again, then Submit.")
    if isinstance(error, AccessRevokedError):
        return "revoked", (
            "✗ Access revoked: the dataset maintainers withdrew stimulus access for you. "
            "Contact them if you think this is a mistake.")
    if isinstance(error, RateLimitedError):
        wait = f"{error.retry_after:g} s" if error.retry_after is not None else "a minute"
        return "rate-limited", (
            f"The access service is rate limiting requests (too many at once). Wait {wait}, then Submit again.")
    if isinstance(error, (ServiceUnreachableError, MalformedResponseError)):
        return "unreachable", (
            f"✗ Access service unreachable: {error}. Check the network (or LAION_FMRI_ACCESS_URL), "
            "then Submit to retry.")
    if isinstance(error, (FormRejectedError, FormInvalidError)):
        fields = ", ".join(error.field_errors) or "the form"
        return "rejected", f"✗ The access service rejected {fields}: see the messages marked ✗."
    if isinstance(error, AccessServiceError):
        return "error", f"✗ {error}"
    return "error", f"✗ Unexpected error ({type(error).__name__}): {one_line(error)}. Submit to retry."
