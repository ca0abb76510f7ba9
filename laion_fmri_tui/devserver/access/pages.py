"""The human-facing pages the client links to (terms, privacy, takedown, ...).

The app and the CLI print these links and a user may open them, so the demo
must answer them with something readable rather than a 404.
"""

from __future__ import annotations

from html import escape

PATHS = ("/terms", "/privacy", "/takedown", "/terms/accept", "/request")


def _doc(title: str, *paragraphs: str) -> bytes:
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)} - LAION-fMRI (local reference service)</title></head>\n"
            f"<body><h1>{escape(title)}</h1>\n{body}\n"
            "<p><em>Local reference implementation for tests and the offline demo.</em></p>"
            "</body></html>\n").encode()


def render(path: str, terms_version: str) -> bytes | None:
    """The page at ``path``, or None when there is none."""
    if path == "/terms":
        return _doc("Terms of Use", f"Terms of Use, version {terms_version}.",
                    "The stimulus images may be used for non-commercial research only, "
                    "must not be redistributed, and takedown requests must be honoured.")
    if path == "/privacy":
        return _doc("Privacy notice", "We keep the form you submit and a log of files sent, "
                    "but no IP addresses. Records are anonymised after one year without downloads.")
    if path == "/takedown":
        return _doc("Takedown requests", "To ask for an image to be removed, contact the maintainers.")
    if path == "/terms/accept":
        return _doc("Accept the current terms", f"The Terms of Use changed; the current version is "
                    f"{terms_version}. Accept them, then run the download again.")
    if path == "/request":
        return _doc("Request access", "Submit the Data Use Agreement form to receive download links "
                    f"(Terms of Use version {terms_version}).")
    return None
