"""The access client against real loopback HTTP: the reference service, plus tiny scripted servers.

The reference service (``access`` fixture) covers the protocol and every error
it can produce. The stdlib servers below answer what no correct service would
(non-JSON, missing fields, a 500 before a 200) or nothing at all.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from laion_fmri_tui.core.errors import Category
from laion_fmri_tui import __version__
from laion_fmri_tui.core.access.client import (
    DEFAULT_ACCESS_URL, AccessClient, FileSpec, Grant, Manifest, SignedFile, retry_after_seconds,
)
from laion_fmri_tui.core.access.errors import (
    AccessNotFoundError, AccessRevokedError, AccessServiceError, FormRejectedError, MalformedResponseError,
    RateLimitedError, ServiceUnreachableError, TermsOutdatedError,
)
from laion_fmri_tui.core.access.form import AccessForm
from laion_fmri_tui.core.errors import UsageError

SHA = "ab" * 32
MANIFEST = {"dataset": "laion-fmri", "current_terms_version": "2026-05-11", "versions": ["v1"],
            "files": [{"name": "task-images_metadata.csv", "size": 10, "sha256": SHA}]}
GRANT = {"request_id": "lfm_scripted_identifier_000001", "expires_at": "2026-05-12T11:00:00+00:00",
         "files": [{"name": "task-images_metadata.csv", "url": "http://127.0.0.1:1/f?sig=abc", "size": 10,
                    "sha256": SHA}]}


class Sleeps(list):
    """An injected ``sleep`` that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


_opened: list[AccessClient] = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while _opened:
        _opened.pop().close()


def client_for(url: str, **kwargs) -> tuple[AccessClient, Sleeps]:
    """A client on ``url`` whose sleeps are recorded; closed after the test."""
    sleeps = Sleeps()
    kwargs.setdefault("timeout", 5.0)
    _opened.append(AccessClient(url, sleep=sleeps, **kwargs))
    return _opened[-1], sleeps


# ---- odd answers the reference service never gives: a scripted stdlib server ----

Scripted = tuple[int, dict[str, str], bytes]


class ScriptedServer:
    """A real loopback HTTP server answering from a script, one entry per request."""

    def __init__(self, *answers: Scripted) -> None:
        self.answers = list(answers)
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.seen.append((self.command, self.path, dict(self.headers), body))
                status, headers, payload = outer.answers.pop(0) if outer.answers else (500, {}, b"script empty")
                self.send_response(status)
                for name, value in {"Content-Length": str(len(payload)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def js(status: int, payload: object, **headers: str) -> Scripted:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(payload).encode()


# ---- the reference service: protocol and the errors it produces --------------------------

def valid_payload(terms_version: str, **changes) -> dict:
    form = AccessForm(name="Jane Doe", email="jane.doe@uni-example.de", institution="Uni Example",
                      research_purpose="Decoding visual categories from fMRI responses.",
                      accepted_terms=True, acknowledged_privacy=True)
    return {**form.to_payload(terms_version), **changes}


@pytest.fixture
def client(access) -> AccessClient:
    sleeps = Sleeps()
    with AccessClient(access.url, sleep=sleeps, timeout=10.0) as client:
        client.sleeps = sleeps  # type: ignore[attr-defined]
        yield client


def granted(client: AccessClient) -> Grant:
    return client.request_access(valid_payload(client.manifest().current_terms_version))


def test_manifest_lists_both_stimulus_files(client, access):
    manifest = client.manifest()
    assert isinstance(manifest, Manifest)
    assert manifest.dataset == "laion-fmri" and manifest.current_terms_version == access.terms_version
    assert manifest.versions == ("v1",)
    assert {f.name for f in manifest.files} == {"task-images_stimuli.h5", "task-images_metadata.csv"}
    spec = manifest.file("task-images_metadata.csv")
    assert spec.size > 0 and len(spec.sha256) == 64
    assert [(r.method, r.path) for r in access.requests] == [("GET", "/api/v1/manifest")]


def test_request_access_then_refresh(client, access):
    grant = granted(client)
    assert grant.request_id.startswith("lfm_") and grant.expires_at
    manifest = client.manifest()
    assert {(f.name, f.size, f.sha256) for f in grant.files} == {(f.name, f.size, f.sha256) for f in manifest.files}
    assert all(f.url.startswith(access.url) for f in grant.files)

    again = client.refresh(grant.request_id)
    assert again.request_id == grant.request_id
    assert {f.name for f in again.files} == {f.name for f in grant.files}
    body = httpx.get(again.file("task-images_metadata.csv").url, timeout=10).content
    assert len(body) == again.file("task-images_metadata.csv").size
    assert grant.request_id not in repr(again)


def test_unknown_id_says_how_to_request_access_again(client):
    with pytest.raises(AccessNotFoundError) as caught:
        client.refresh("lfm_this_id_was_never_issued_0000")
    message = str(caught.value)
    assert "--request-access" in message and "in the app" in message
    assert "lfm_this_id" not in message and caught.value.category is Category.NOT_GRANTED


def test_revoked_id(client, access):
    grant = granted(client)
    access.revoke(grant.request_id)
    with pytest.raises(AccessRevokedError) as caught:
        client.refresh(grant.request_id)
    assert "revoked" in str(caught.value) and grant.request_id not in str(caught.value)


def test_outdated_terms_name_the_url_and_version(client, access):
    grant = granted(client)
    access.bump_terms("2026-09-01")
    with pytest.raises(TermsOutdatedError) as caught:
        client.refresh(grant.request_id)
    error = caught.value
    assert error.accept_url == f"{access.url}/terms/accept" and error.terms_version == "2026-09-01"
    assert error.accept_url in str(error) and "re-run" in str(error) and error.category is Category.NOT_GRANTED


def test_form_rejected_field_by_field(client, access):
    payload = valid_payload(access.terms_version, email="not-an-email", research_purpose="too short",
                            accepted_terms=False)
    with pytest.raises(FormRejectedError) as caught:
        client.request_access(payload)
    errors = caught.value.field_errors
    assert set(errors) == {"email", "research_purpose", "accepted_terms"}
    assert "email" in errors["email"] and not errors["research_purpose"].startswith("Value error")
    assert caught.value.category is Category.USAGE and "\n" not in str(caught.value)
    assert len([r for r in access.requests if r.path == "/api/v1/access/request"]) == 1


def test_stale_terms_version_in_the_form_is_a_field_error(client, access):
    with pytest.raises(FormRejectedError) as caught:
        client.request_access(valid_payload("1999-01-01"))
    assert set(caught.value.field_errors) == {"terms_version"}


def test_429_waits_retry_after_then_succeeds(client, access):
    access.rate_limit(2, retry_after=3)
    assert client.manifest().dataset == "laion-fmri"
    assert client.sleeps == [3.0, 3.0]
    assert [r.status for r in access.requests] == [429, 429, 200]


def test_429_wait_is_capped(access):
    access.rate_limit(1, retry_after=3600)
    sleeps = Sleeps()
    with AccessClient(access.url, sleep=sleeps, max_retry_after=30.0) as client:
        client.manifest()
    assert sleeps == [30.0]


def test_429_after_all_retries_is_rate_limited(access):
    access.rate_limit(10, retry_after=7)
    sleeps = Sleeps()
    with AccessClient(access.url, sleep=sleeps, retries=2) as client, pytest.raises(RateLimitedError) as caught:
        client.manifest()
    assert sleeps == [7.0, 7.0] and len(access.requests) == 3
    assert caught.value.retry_after == 7.0 and "try again in 7 s" in str(caught.value)
    assert caught.value.category is Category.UNREACHABLE


def test_the_form_post_is_retried_on_429_without_filing_twice(client, access):
    payload = valid_payload(client.manifest().current_terms_version)
    access.rate_limit(1, retry_after=1)
    grant = client.request_access(payload)
    posts = [r for r in access.requests if r.path == "/api/v1/access/request"]
    assert [r.status for r in posts] == [429, 200] and grant.request_id


def test_human_pages_exist(client):
    for page in ("terms", "privacy", "takedown"):
        assert httpx.get(client.page_url(page), timeout=10).status_code == 200


# ---- configuration ---------------------------------------------------------------

def test_base_url_precedence_and_trailing_slash(monkeypatch):
    assert client_for(None)[0].base_url == DEFAULT_ACCESS_URL
    monkeypatch.setenv("LAION_FMRI_ACCESS_URL", "http://env.example:8000/")
    assert client_for(None)[0].base_url == "http://env.example:8000"
    with AccessClient("http://flag.example//") as client:
        assert client.base_url == "http://flag.example"
        assert client.page_url("terms") == "http://flag.example/terms"
        assert client.page_url("privacy") == "http://flag.example/privacy"
        assert client.page_url("takedown") == "http://flag.example/takedown"
        with pytest.raises(ValueError):
            client.page_url("secrets")


def test_headers_and_refresh_body():
    with ScriptedServer(js(200, MANIFEST), js(200, {k: v for k, v in GRANT.items() if k != "request_id"})) as srv:
        client, _ = client_for(srv.url + "/")
        with client:
            manifest = client.manifest()
            grant = client.refresh("lfm_passed_in_identifier_42")
    (m1, p1, h1, _), (m2, p2, h2, b2) = srv.seen
    assert (m1, p1, m2, p2) == ("GET", "/api/v1/manifest", "POST", "/api/v1/refresh")
    assert h1["Accept"] == "application/json" and h1["User-Agent"] == f"laion-fmri-tui/{__version__}"
    assert h2["Content-Type"] == "application/json"
    assert json.loads(b2) == {"request_id": "lfm_passed_in_identifier_42", "dataset_version": "v1"}
    assert manifest == Manifest("laion-fmri", "2026-05-11", ("v1",), (FileSpec("task-images_metadata.csv", 10, SHA),))
    assert grant.request_id == "lfm_passed_in_identifier_42"  # echoed, the answer has none
    assert grant.files == (SignedFile("task-images_metadata.csv", GRANT["files"][0]["url"], 10, SHA),)
    assert "lfm_passed" not in repr(grant) and "sig=abc" not in repr(grant)


# ---- answers that are not the protocol -------------------------------------------------

def test_non_json_success_is_malformed():
    with ScriptedServer((200, {"Content-Type": "text/html"}, b"<html>captive portal</html>")) as srv:
        client, _ = client_for(srv.url)
        with pytest.raises(MalformedResponseError) as caught:
            client.manifest()
    assert caught.value.category is Category.UNREACHABLE and "not JSON" in str(caught.value)


def _without(mapping: dict, key: str) -> dict:
    return {k: v for k, v in mapping.items() if k != key}


def _file(**changes) -> dict:
    return {**MANIFEST["files"][0], **changes}


@pytest.mark.parametrize("payload", [
    [],
    _without(MANIFEST, "files"),
    _without(MANIFEST, "current_terms_version"),
    {**MANIFEST, "current_terms_version": 20260511},
    {**MANIFEST, "versions": "v1"},
    {**MANIFEST, "files": {"name": "x"}},
    {**MANIFEST, "files": ["task-images_metadata.csv"]},
    {**MANIFEST, "files": [_file(size="10")]},
    {**MANIFEST, "files": [_file(size=True)]},
    {**MANIFEST, "files": [_file(size=-1)]},
    {**MANIFEST, "files": [_file(sha256="not-a-hash")]},
    {**MANIFEST, "files": [_file(name="../../etc/passwd")]},
    {**MANIFEST, "files": [_without(_file(), "sha256")]},
])
def test_manifest_with_missing_or_mistyped_fields_is_malformed(payload):
    with ScriptedServer(js(200, payload)) as srv:
        client, _ = client_for(srv.url)
        with pytest.raises(MalformedResponseError):
            client.manifest()


@pytest.mark.parametrize("payload", [
    _without(GRANT, "request_id"),
    _without(GRANT, "expires_at"),
    {**GRANT, "files": [_without(GRANT["files"][0], "url")]},
    {**GRANT, "files": [{**GRANT["files"][0], "url": "file:///etc/passwd"}]},
    {"detail": "ok"},
])
def test_grant_with_missing_fields_is_malformed(payload):
    with ScriptedServer(js(200, payload)) as srv:
        client, _ = client_for(srv.url)
        with pytest.raises(MalformedResponseError):
            client.request_access({"any": "thing"})


# ---- retries ------------------------------------------------------------------------

def test_a_5xx_is_retried_with_exponential_backoff():
    with ScriptedServer(js(500, {"detail": "boom"}), js(503, {}), js(200, MANIFEST)) as srv:
        client, sleeps = client_for(srv.url, backoff=0.25)
        assert client.manifest().dataset == "laion-fmri"
    assert sleeps == [0.25, 0.5] and len(srv.seen) == 3


def test_persistent_5xx_ends_as_one_line_http_error_without_the_html():
    with ScriptedServer(*[(502, {"Content-Type": "text/html"}, b"<html>\n<h1>Bad Gateway</h1>\n</html>")] * 3) as srv:
        client, sleeps = client_for(srv.url, retries=2)
        with pytest.raises(AccessServiceError) as caught:
            client.manifest()
    assert len(sleeps) == 2 and len(srv.seen) == 3
    assert str(caught.value) == "HTTP 502: Bad Gateway"  # the status line, never the page's markup


def test_the_form_post_is_not_resent_after_a_500():
    """The service may have filed the request already; a second post would file it twice."""
    with ScriptedServer(js(500, {"detail": "Internal Server Error"}), js(200, GRANT)) as srv:
        client, sleeps = client_for(srv.url)
        with pytest.raises(AccessServiceError, match="HTTP 500"):
            client.request_access({"any": "thing"})
    assert len(srv.seen) == 1 and sleeps == []


def test_the_form_post_is_resent_after_a_gateway_error():
    with ScriptedServer(js(503, {"detail": "maintenance"}, **{"Retry-After": "2"}), js(200, GRANT)) as srv:
        client, sleeps = client_for(srv.url)
        assert client.request_access({"any": "thing"}).request_id == GRANT["request_id"]
    assert sleeps == [2.0]


def test_connection_refused_is_unreachable_after_retries():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client, sleeps = client_for(f"http://127.0.0.1:{port}", retries=3, backoff=0.1)
    with pytest.raises(ServiceUnreachableError) as caught:
        client.manifest()
    assert sleeps == [0.1, 0.2, 0.4]
    assert caught.value.category is Category.UNREACHABLE
    assert str(caught.value).startswith(f"could not reach the access service at http://127.0.0.1:{port}: ")


def test_a_silent_server_times_out_and_is_unreachable():
    with socket.socket() as sock:  # accepts connections (backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        client, sleeps = client_for(f"http://127.0.0.1:{sock.getsockname()[1]}", retries=1, timeout=0.3)
        with pytest.raises(ServiceUnreachableError):
            client.manifest()
    assert len(sleeps) == 1


def test_retry_after_parsing():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert 50 < retry_after_seconds(_http_date_in(60)) <= 61


def _http_date_in(seconds: float) -> str:
    return formatdate(time.time() + seconds, usegmt=True)


# ---- error mapping the reference service never produces ------------------------------

def test_404_outside_refresh_is_not_an_unknown_id():
    with ScriptedServer(js(404, {"detail": "Not Found"})) as srv:
        client, _ = client_for(srv.url)
        with pytest.raises(AccessServiceError) as caught:
            client.manifest()
    assert not isinstance(caught.value, AccessNotFoundError)
    assert "HTTP 404: Not Found" in str(caught.value) and srv.url in str(caught.value)


def test_terms_outdated_without_url_or_version_uses_defaults():
    with ScriptedServer(js(403, {"detail": {"error": "terms_outdated"}})) as srv:
        client, _ = client_for(srv.url)
        with pytest.raises(TermsOutdatedError) as caught:
            client.refresh("lfm_scripted_identifier_000001")
    assert caught.value.accept_url == f"{srv.url}/terms/accept" and caught.value.terms_version == "?"


def test_other_403_is_a_plain_http_error():
    with ScriptedServer(js(403, {"detail": "Forbidden"})) as srv:
        client, _ = client_for(srv.url)
        with pytest.raises(AccessServiceError) as caught:
            client.refresh("lfm_scripted_identifier_000001")
    assert type(caught.value) is AccessServiceError and str(caught.value) == "HTTP 403: Forbidden"


def test_ids_echoed_by_the_server_are_redacted():
    opaque = "opaque-identifier-from-env-777"
    with ScriptedServer(js(500, {"detail": f"cannot refresh {opaque}"})) as srv:
        client, _ = client_for(srv.url, retries=0)
        with pytest.raises(AccessServiceError) as caught:
            client.refresh(opaque)
    assert opaque not in str(caught.value) and "lfm_…redacted" in str(caught.value)


def test_a_redirect_loop_is_an_unusable_answer_not_a_crash():
    loop = (302, {"Location": "/api/v1/manifest"}, b"")
    with ScriptedServer(*[loop] * 25) as srv:
        client, _ = client_for(srv.url)
        with pytest.raises(MalformedResponseError, match="unusable answer"):
            client.manifest()


def test_a_url_without_http_scheme_is_a_usage_error():
    with pytest.raises(UsageError):
        AccessClient("laion-fmri.hebartlab.com")
