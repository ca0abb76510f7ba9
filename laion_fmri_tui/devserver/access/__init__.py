"""A local reference implementation of the stimulus access service (UPSTREAM.md §5).

The real service is a small FastAPI app whose source is not public; the
client only knows its contract. This one speaks that contract over real HTTP
on 127.0.0.1 so tests and ``laion-fmri-tui --demo`` exercise the client end
to end: the DUA form and its 422s, ids kept only as HMACs, refresh with
revocation and outdated terms, 429s, and download URLs that really expire.

Why the stdlib's ``ThreadingHTTPServer`` rather than FastAPI/uvicorn or
werkzeug: it adds nothing to anyone's install (the access service must run in
the demo, whose only extra is moto), starts in-process in milliseconds on
port 0 from a fixture, and lets a handler write a large ranged body to the
socket chunk by chunk, paced or cut, which is what the download tests need.
Four endpoints do not need a framework; FastAPI's 422 shape is reproduced by
hand in ``forms``.

Layout: ``service`` (life cycle, knobs, log), ``app`` (HTTP plumbing and
routing), ``api`` (JSON endpoints), ``forms`` (validation), ``store`` (HMACed
ids, rate limit), ``files`` (manifest, URL signing, Range), ``download``
(signed-URL checks and streaming), ``pages`` (HTML), ``state`` (what the handlers see of the service).
"""

from __future__ import annotations

from .service import DEFAULT_TERMS_VERSION, DEFAULT_URL_TTL, AccessService
from .state import AccessRecord

__all__ = ["DEFAULT_TERMS_VERSION", "DEFAULT_URL_TTL", "AccessRecord", "AccessService"]
