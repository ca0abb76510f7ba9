"""Where bytes come from: the source protocol and its failure kinds.

A source (anonymous S3 GETs in :mod:`laion_fmri_tui.core.s3.get`, presigned
URLs in :mod:`.access_source`) describes the GET of one planned file as a
:class:`Request`; the lane (:mod:`.lane`) sends it, adding the
``Range``, through the one HTTP layer (:mod:`laion_fmri_tui.core.http`:
proxy, CA bundle, addresses). A source may also say what a refusal means
for its URLs (a signed link's 403 is expiry); otherwise the status is
classified by :mod:`laion_fmri_tui.core.http.answers`, so the engine can act
without knowing the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from laion_fmri_tui.core.events import FailKind, Failure
from laion_fmri_tui.core.settings import NetworkSettings
from laion_fmri_tui.core.models import PlanItem

if TYPE_CHECKING:
    from laion_fmri_tui.core.http.answers import SourceError


@dataclass(frozen=True)
class Request:
    """What the lane needs to GET one file: no credentials; a signed URL's
    signature is in ``url`` and must never be shown (see :mod:`laion_fmri_tui.core.redact`)."""

    url: str
    headers: tuple[str, ...]
    network: NetworkSettings
    """Proxy and CA bundle (see :mod:`laion_fmri_tui.core.http.network`)."""
    connect_timeout: float
    read_timeout: float


class Source(Protocol):
    """One kind of source: how to GET a planned file (the lane adds the ``Range``).

    A source class names this protocol as its base, so it inherits the default
    :meth:`status_failure`."""

    def lane_request(self, item: PlanItem) -> Request:
        """``item``'s GET as of now (a signed link may have been renewed)."""
        ...

    def status_failure(self, item: PlanItem, status: int, url: str) -> SourceError | None:
        """What a refusal with HTTP ``status`` means for ``item`` at ``url``
        (a signed link's 403 is expiry); None, the default: the status alone
        says (:func:`laion_fmri_tui.core.http.answers.classify_status`)."""
        return None

    def first_part_size(self, item: PlanItem) -> int | None:
        """The part size of ``item``'s multipart upload as the server tells it,
        to check a multipart ETag no guessed part size matched
        (:func:`~laion_fmri_tui.core.integrity.content_checks.recheck`); None, the default: unknown."""
        return None


def unexpected_failure(error: BaseException) -> Failure:
    """An error nothing expected: a bug, reported as one."""
    return Failure(FailKind.ERROR, f"unexpected error: {type(error).__name__}: {error}")
