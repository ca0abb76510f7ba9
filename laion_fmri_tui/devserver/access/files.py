"""The gated files: their manifest entries, presigned-looking URLs and Range parsing.

moto accepts any presigned URL forever (docs: shared/LOCAL-S3.md), so URLs
pointing at the local S3 could never expire. The service therefore mints its
own S3-shaped URLs (``X-Amz-Date``/``X-Amz-Expires``/``X-Amz-Signature``)
that point back at itself, checks them like S3 would, and only then streams
the private object out of the local bucket.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode

from ..synthetic import BUCKET, REGION, STIMULI_CSV_KEY, STIMULI_H5_KEY
from .store import Grant

FILES = {"task-images_stimuli.h5": STIMULI_H5_KEY, "task-images_metadata.csv": STIMULI_CSV_KEY}
ALGORITHM = "AWS4-HMAC-SHA256"
# S3's X-Amz-Date has whole seconds; sub-second TTLs (tests) need the fraction too.
FRACTION_PARAM = "X-Amz-Date-Micros"
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class FileEntry:
    """One gated file as the manifest describes it."""

    name: str
    key: str
    size: int
    sha256: str

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256}


def read_catalog(admin: Any) -> dict[str, FileEntry]:
    """Size and sha256 of each gated file, from the bytes actually in the bucket."""
    entries = {}
    for name, key in FILES.items():
        data = admin.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        entries[name] = FileEntry(name, key, len(data), hashlib.sha256(data).hexdigest())
    return entries


def iso_utc(epoch: float) -> str:
    """ISO-8601 UTC with a ``Z``, as pydantic (so FastAPI) writes datetimes."""
    text = datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None).isoformat()
    return text + "Z"


def _format_ttl(ttl: float) -> str:
    return str(int(ttl)) if float(ttl).is_integer() else repr(float(ttl))


class Signer:
    """Mints and checks the download URLs of one service (HMAC under its secret)."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"download-url-signing", hashlib.sha256).digest()

    def _sign(self, name: str, date: str, micros: str, expires: str, grant_key: str) -> str:
        message = "\n".join((name, date, micros, expires, grant_key)).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def mint(self, base: str, name: str, grant: Grant, issued: float, ttl: float) -> str:
        """A URL for ``name`` valid from ``issued`` for ``ttl`` seconds."""
        whole = int(issued)
        date = time.strftime(_AMZ_DATE, time.gmtime(whole))
        micros = f"{min(999_999, int((issued - whole) * 1e6)):06d}"
        expires = _format_ttl(ttl)
        params = {
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": f"{grant.handle}/{date[:8]}/{REGION}/s3/aws4_request",
            "X-Amz-Date": date,
            FRACTION_PARAM: micros,
            "X-Amz-Expires": expires,
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Signature": self._sign(name, date, micros, expires, grant.key),
        }
        return f"{base}/files/{quote(name)}?{urlencode(params)}"

    def check_signature(self, name: str, query: dict[str, str], grant: Grant) -> bool:
        """Whether the URL's signature covers exactly this name, time and grant."""
        expected = self._sign(name, query["X-Amz-Date"], query.get(FRACTION_PARAM, "000000"),
                              query["X-Amz-Expires"], grant.key)
        return hmac.compare_digest(expected, query["X-Amz-Signature"])


def expiry_of(query: dict[str, str]) -> float:
    """Epoch seconds after which the URL is dead (ValueError if malformed)."""
    issued = datetime.strptime(query["X-Amz-Date"], _AMZ_DATE).replace(tzinfo=timezone.utc).timestamp()
    micros = query.get(FRACTION_PARAM, "0")
    if not micros.isdigit() or len(micros) > 6:
        raise ValueError("bad fraction")
    expires = float(query["X-Amz-Expires"])
    if not expires >= 0:
        raise ValueError("bad expires")
    return issued + int(micros) / 1e6 + expires


def handle_of(query: dict[str, str]) -> str:
    """The grant handle out of ``X-Amz-Credential``."""
    return query["X-Amz-Credential"].split("/", 1)[0]


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """``(first, last)`` inclusive; None to send everything; "unsatisfiable" for 416.

    Like S3, a header we cannot parse or a multi-range request is ignored.
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix range: the last N bytes
        count = int(last)
        return (max(0, size - count), size - 1) if count and size else "unsatisfiable"
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return "unsatisfiable" if start >= size else None
    return start, end
