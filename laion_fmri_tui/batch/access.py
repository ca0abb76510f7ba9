"""``--request-access``: the data-use agreement as flags, for headless first use."""

from __future__ import annotations

import sys

from laion_fmri_tui.batch.args import PROG
from laion_fmri_tui.core.access.auth import auth_path
from laion_fmri_tui.core.access.client import AccessClient
from laion_fmri_tui.core.access.enrol import submit_form
from laion_fmri_tui.core.access.form import AccessForm
from laion_fmri_tui.core.errors import UsageError
from laion_fmri_tui.core.settings import NetworkSettings

FLAG_OF = {
    "name": "--name", "email": "--email", "institution": "--institution",
    "pi_or_supervisor": "--pi", "research_purpose": "--purpose",
    "accepted_terms": "--accept-terms", "acknowledged_privacy": "--accept-terms",
}


def request_access(args, network: NetworkSettings) -> None:
    """Validate the flags, submit the form, store the id; never prompts."""
    with AccessClient(args.access_url, network=network) as client:
        if not args.accept_terms:
            raise UsageError(
                "--request-access needs --accept-terms: read the terms at "
                f"{client.page_url('terms')} and the privacy notice at {client.page_url('privacy')} first"
            )
        form = AccessForm(
            name=args.name or "", email=args.email or "", institution=args.institution or "",
            pi_or_supervisor=args.pi or "", research_purpose=args.purpose or "",
            accepted_terms=True, acknowledged_privacy=True,
        )
        problems = form.validate()
        if problems:
            listed = "; ".join(f"{FLAG_OF.get(f, f)}: {m}" for f, m in problems.items())
            raise UsageError(f"the access request is incomplete: {listed}")
        grant = submit_form(client, form)
    sys.stdout.write(
        f"{PROG}: stimulus access granted (links valid until {grant.expires_at}); "
        f"request id saved to {auth_path()}\n"
    )
    sys.stdout.flush()
