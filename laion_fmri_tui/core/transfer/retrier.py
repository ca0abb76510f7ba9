"""Who decides whether a failed unit is tried again, when, and with what request.

A lane that sees a unit fail (a dropped connection, a 503, an expired
signed link) does not judge it: it asks the run's one :class:`Retrier`.
The retrier answers with a delay (the lane then keeps the unit, and sends
it again from the byte it reached once the delay is over) or raises the
:class:`~laion_fmri_tui.core.http.answers.SourceError` that ends it (the
lane then reports the unit to
:class:`~laion_fmri_tui.core.transfer.outcomes.Outcomes`, which alone
finishes or fails the file). It also says what an answer's refusal means
(the source first: a signed link's 403 is an expiry) and gives a unit's
request as its source describes it now (a renewed link).

Every lane of a run shares the one :class:`RetryPolicy` here, so attempts,
back-off and the throttled request limit are the run's, not a lane's. The
retrier keeps no state of its own beyond that policy; it is called on the
lanes' threads, and the policy is thread-safe.
"""

from __future__ import annotations

from collections.abc import Mapping

from laion_fmri_tui.core import events as ev
from laion_fmri_tui.core.events import FailKind
from laion_fmri_tui.core.http.answers import SourceError, classify_status
from laion_fmri_tui.core.http.retry import RetryPolicy, RetryState, retry_after
from laion_fmri_tui.core.http.wire import Head
from laion_fmri_tui.core.transfer.filejob import FileJob
from laion_fmri_tui.core.transfer.sources import Request, Source

__all__ = ["Retrier"]


class Retrier:
    """The run's retry rules for the lanes; says each retry in a :class:`~laion_fmri_tui.core.events.Retrying`."""

    def __init__(self, sources: Mapping[str, Source], sink: ev.EventSink, policy: RetryPolicy) -> None:
        self._sources = sources
        self._sink = sink
        self.policy = policy
        """Shared by the lanes: attempts, back-off, and the request limit a throttling server cuts."""

    def delay(self, job: FileJob, error: SourceError, retries: RetryState, pos: int,
              counted: bool = True) -> float:
        """Seconds to wait before the next attempt of a unit of ``job`` that
        reached byte ``pos``; raises the final :class:`SourceError` once the
        policy gives up. ``counted`` False: the failure was a pause's (a
        connection the server closed meanwhile), no attempt spent."""
        decision = self.policy.decide(retries, error.retry_kind, after=error.after, position=pos,
                                      counted=counted)
        if decision.delay is None:
            raise SourceError(FailKind.TRANSIENT, f"{error} ({decision.why})") from None
        spent = self.policy.clock() - retries.since if retries.since is not None else 0.0
        self._sink(ev.Retrying(
            f"retrying {job.item.key} from byte {pos} in {decision.delay:.1f} s: {error} "
            f"(attempt {decision.attempt + 1})",
            key=job.item.key, position=pos, delay=decision.delay, attempt=decision.attempt + 1,
            kind=error.retry_kind, reason=str(error), retried_for=spent,
            gives_up_in=max(0.0, self.policy.settings.budget - spent)))
        return decision.delay

    def refusal(self, job: FileJob, answer: Head, url: str) -> SourceError:
        """What an answer's refusal means for ``job``: its source says (a signed
        link's 403 is expiry), else the status (and the answer's ``Retry-After``
        and ``x-amz-bucket-region``)."""
        try:
            error = self._sources[job.item.source].status_failure(job.item, answer.status, url)
        except SourceError as failed:  # the access service could not renew the links
            return failed
        if error is None:
            return classify_status(answer.status, job.item.key, after=answer.retry_after, region=answer.region)
        if error.after is None:
            error.after = retry_after(answer.retry_after)
        return error

    def request(self, job: FileJob) -> Request:
        """``job``'s GET as its source describes it now (a signed link may have been renewed)."""
        return self._sources[job.item.source].lane_request(job.item)
