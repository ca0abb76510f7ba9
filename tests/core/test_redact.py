"""Request ids and URL signatures never reach a message or a URL we show."""

from __future__ import annotations

import pytest

from laion_fmri_tui.core.access.errors import AccessServiceError, TermsOutdatedError
from laion_fmri_tui.core.redact import (
    REDACTED, REDACTED_ID, redact, redact_url, register_secret,
)

RID = "lfm_AbC-123_xyzXYZ0987654321"
SIG = "4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c"
PRESIGNED = (
    "https://laion-fmri.s3.us-west-2.amazonaws.com/stimuli/task-images_stimuli.h5"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20260512%2Fus-west-2%2Fs3%2Faws4_request"
    "&X-Amz-Date=20260512T100000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
    "&X-Amz-Security-Token=FwoGZXIvYXdzEBYaDEXAMPLETOKEN&X-Amz-Signature=" + SIG
)


def test_lfm_tokens_are_replaced():
    text = f"refresh failed for {RID}: unknown. Also 'lfm_other'."
    out = redact(text)
    assert RID not in out and "lfm_other" not in out
    assert out == f"refresh failed for {REDACTED_ID}: unknown. Also '{REDACTED_ID}'."
    assert redact(out) == out  # idempotent


def test_registered_ids_of_any_shape_are_replaced():
    secret = "0123456789abcdef-opaque"
    assert redact(f"id {secret}") == f"id {secret}"
    register_secret(secret)
    assert redact(f"id {secret}!") == f"id {REDACTED_ID}!"


def test_short_or_empty_values_are_not_registered():
    register_secret("")
    register_secret("abc")
    register_secret(None)
    assert redact("abc def") == "abc def"


def test_presigned_query_secrets_are_replaced_in_free_text():
    out = redact(f"GET {PRESIGNED} -> 403")
    assert SIG not in out and "AKIAEXAMPLE" not in out and "FwoGZXIvYXdzEBYaDEXAMPLETOKEN" not in out
    assert f"X-Amz-Signature={REDACTED}" in out and out.endswith(" -> 403")
    assert "X-Amz-Expires=3600" in out and "/stimuli/task-images_stimuli.h5" in out


@pytest.mark.parametrize("name", ["Signature", "signature", "sig", "token", "x-amz-signature"])
def test_other_signature_parameter_names(name):
    url = f"https://cdn.example.org/f.h5?Expires=1&{name}=s3cr3tvalue&Key-Pair-Id=K1"
    out = redact(url)
    assert "s3cr3tvalue" not in out and "Expires=1" in out and "Key-Pair-Id=K1" in out


def test_redact_url_keeps_everything_but_the_secrets():
    out = redact_url(PRESIGNED)
    assert out.startswith("https://laion-fmri.s3.us-west-2.amazonaws.com/stimuli/task-images_stimuli.h5?")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in out and "X-Amz-Date=20260512T100000Z" in out
    for secret_param in ("X-Amz-Credential", "X-Amz-Security-Token", "X-Amz-Signature"):
        assert f"{secret_param}={REDACTED}" in out
    assert SIG not in out and "AKIAEXAMPLE" not in out


def test_redact_url_drops_passwords_and_ids_in_the_path():
    out = redact_url(f"https://user:hunter2@example.org/grants/{RID}?page=2")
    assert "hunter2" not in out and RID not in out
    assert out == f"https://user:{REDACTED}@example.org/grants/{REDACTED_ID}?page=2"
    assert redact_url("https://example.org/plain") == "https://example.org/plain"


def test_exception_messages_are_redacted_and_one_line():
    error = AccessServiceError(f"HTTP 500: boom for {RID}\nwhile fetching {PRESIGNED}")
    text = str(error)
    assert RID not in text and SIG not in text and "\n" not in text
    terms = TermsOutdatedError(f"https://x.org/terms/accept?token={SIG}", "2026-06-01")
    assert SIG not in str(terms) and "2026-06-01" in str(terms)
