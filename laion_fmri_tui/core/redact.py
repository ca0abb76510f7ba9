"""The one place that scrubs secrets from text we show, log or store.

A stimulus request id is a bearer credential (anyone holding it can mint
download URLs), and a presigned URL carries its signature in the query. Both
end up in exception messages, screens and tracebacks unless every such text
goes through :func:`redact`. Ids are recognised by their ``lfm_`` prefix and,
for ids of any shape, by having been registered with :func:`register_secret`
(the auth store and the access client register every id they see).
"""

from __future__ import annotations

import re
import threading
from urllib.parse import unquote, urlsplit, urlunsplit

REDACTED = "REDACTED"
"""What the value of a secret query parameter becomes."""

REDACTED_ID = "lfm_…redacted"
"""What a request id becomes."""

SECRET_QUERY_PARAMS = (
    "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token",
    "Signature", "signature", "sig", "token",
)
_SECRET_PARAM_NAMES = frozenset(name.lower() for name in SECRET_QUERY_PARAMS)

# Shorter values would redact ordinary words; real ids are far longer.
_MIN_SECRET_LENGTH = 8

_ID_TOKEN = re.compile(r"(?<![A-Za-z0-9])lfm_[A-Za-z0-9_\-]+")
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:" + "|".join(re.escape(n) for n in SECRET_QUERY_PARAMS) + r")=)[^&#\s\"'<>]+"
)

_USERINFO_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]*@")
"""``scheme://user:password@`` anywhere in a text (a proxy URL echoed back)."""

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember ``value`` (a request id) so :func:`redact` removes it anywhere."""
    if not isinstance(value, str):
        return
    value = value.strip()
    if len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def redact(text: object) -> str:
    """``text`` with request ids and presigned-URL secrets replaced."""
    result = text if isinstance(text, str) else str(text)
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:  # longest first: one id may contain another
        if secret in result:
            result = result.replace(secret, REDACTED_ID)
    result = _ID_TOKEN.sub(REDACTED_ID, result)
    return _SECRET_PARAM.sub(lambda m: m.group(1) + REDACTED, result)


def redact_arguments(text: str) -> str:
    """:func:`redact`, and the password of any ``scheme://user:password@``
    in ``text`` replaced: for messages that echo what the user typed (argparse
    quotes a misspelt ``--proxy``'s URL), where a password may be anything."""
    return redact(_USERINFO_PASSWORD.sub(lambda m: m.group(1) + REDACTED + "@", text))


def redact_url(url: str) -> str:
    """``url`` with scheme, host, path and harmless query kept, secrets replaced.

    A password in the userinfo is dropped too; the parameter order and the
    encoding of the other values are left exactly as they were.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else netloc
    query = "&".join(_redact_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def _redact_pair(pair: str) -> str:
    name, sep, _value = pair.partition("=")
    if sep and unquote(name).lower() in _SECRET_PARAM_NAMES:
        return f"{name}={REDACTED}"
    return pair
