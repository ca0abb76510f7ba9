"""Submitting the data-use agreement: one function for the app and ``--batch``."""

from __future__ import annotations

from laion_fmri_tui.core.access import auth
from laion_fmri_tui.core.access.client import AccessClient, Grant
from laion_fmri_tui.core.access.form import AccessForm


def submit_form(client: AccessClient, form: AccessForm) -> Grant:
    """Validate, post with the current terms version, and store the request id.

    Raises ``FormInvalidError`` before anything is sent when a field is wrong,
    and the client's typed errors for what the service answers.
    """
    manifest = client.manifest()
    grant = client.request_access(form.to_payload(manifest.current_terms_version))
    auth.save_request_id(grant.request_id, email=form.email.strip(), server_url=client.base_url)
    return grant
