"""The reference access service keeps the protocol of UPSTREAM.md §5 over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from laion_fmri_tui.devserver import synthetic as syn
from laion_fmri_tui.devserver.access import AccessService
from laion_fmri_tui.devserver.s3server import LocalS3Server

H5 = "task-images_stimuli.h5"
CSV = "task-images_metadata.csv"
KEYS = {H5: syn.STIMULI_H5_KEY, CSV: syn.STIMULI_CSV_KEY}


def form(**changes: Any) -> dict[str, Any]:
    body = {"name": "Ada Lovelace", "email": "ada@uni.example.org", "institution": "Analytical U",
            "pi_or_supervisor": None, "research_purpose": "Encoding models of visual cortex.",
            "accepted_terms": True, "acknowledged_privacy": True, "terms_version": "2026-05-11",
            "source": "cli"}
    body.update(changes)
    return body


@pytest.fixture
def http(access: AccessService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=access.url, timeout=10) as client:
        yield client


def grant(http: httpx.Client, **changes: Any) -> dict[str, Any]:
    answer = http.post("/api/v1/access/request", json=form(**changes))
    assert answer.status_code == 200, answer.text
    return answer.json()


def url_of(answer: dict[str, Any], name: str) -> str:
    return next(f["url"] for f in answer["files"] if f["name"] == name)


def bucket_bytes(s3: LocalS3Server, name: str) -> bytes:
    return s3.admin().get_object(Bucket=syn.BUCKET, Key=KEYS[name])["Body"].read()


def test_manifest_describes_the_objects_in_the_bucket(http: httpx.Client, s3_server: LocalS3Server) -> None:
    answer = http.get("/api/v1/manifest")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["dataset"] == "laion-fmri" and body["versions"] == ["v1"]
    assert body["current_terms_version"] == "2026-05-11"
    expected = [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                for n, d in ((n, bucket_bytes(s3_server, n)) for n in (H5, CSV))]
    assert body["files"] == expected


def test_request_issues_an_id_stored_only_as_an_hmac(http: httpx.Client, access: AccessService) -> None:
    answer = grant(http)
    request_id = answer["request_id"]
    assert request_id.startswith("lfm_") and len(request_id) >= 36
    assert answer["expires_at"].endswith("Z")
    assert [(f["name"], f["size"]) for f in answer["files"]] == [
        (f["name"], f["size"]) for f in http.get("/api/v1/manifest").json()["files"]]
    keys = access.stored_keys()
    assert request_id not in keys and all(len(k) == 64 and request_id not in k for k in keys)
    assert request_id not in repr(access.requests)
    assert all(request_id not in f["url"] for f in answer["files"])
    assert grant(http)["request_id"] != request_id


def test_stored_key_is_hmac_sha256_under_the_secret(s3_server: LocalS3Server) -> None:
    with AccessService(s3_server, secret=b"k" * 32) as service:
        request_id = httpx.post(f"{service.url}/api/v1/access/request", json=form()).json()["request_id"]
        assert service.stored_keys() == [hmac.new(b"k" * 32, request_id.encode(), hashlib.sha256).hexdigest()]


@pytest.mark.parametrize(("field", "value"), [
    ("name", "   "), ("institution", ""), ("email", "not-an-email"), ("email", "a@b"),
    ("research_purpose", "  too short    "), ("accepted_terms", False),
    ("acknowledged_privacy", False), ("terms_version", "2020-01-01"), ("name", 3),
])
def test_each_bad_field_gets_its_own_422_entry(http: httpx.Client, field: str, value: Any) -> None:
    answer = http.post("/api/v1/access/request", json=form(**{field: value}))
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert [d["loc"] for d in detail] == [["body", field]]
    assert detail[0]["type"] == "value_error" and detail[0]["msg"]


def test_all_bad_fields_are_listed_and_missing_ones_too(http: httpx.Client) -> None:
    body = form(name="", email="x", accepted_terms=False)
    del body["institution"]
    detail = http.post("/api/v1/access/request", json=body).json()["detail"]
    assert {d["loc"][1] for d in detail} == {"name", "email", "accepted_terms", "institution"}


def test_malformed_json_is_a_422_on_the_body(http: httpx.Client) -> None:
    answer = http.post("/api/v1/access/request", content=b"{nope", headers={"Content-Type": "application/json"})
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body"]


def test_refresh_ok_unknown_revoked_and_outdated(http: httpx.Client, access: AccessService) -> None:
    request_id = grant(http)["request_id"]
    ok = http.post("/api/v1/refresh", json={"request_id": request_id, "dataset_version": "v1"})
    assert ok.status_code == 200 and {f["name"] for f in ok.json()["files"]} == {H5, CSV}
    unknown = http.post("/api/v1/refresh", json={"request_id": "lfm_" + "x" * 43, "dataset_version": "v1"})
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Unknown request_id."})

    access.bump_terms("2026-09-01")
    outdated = http.post("/api/v1/refresh", json={"request_id": request_id, "dataset_version": "v1"})
    assert outdated.status_code == 403
    assert outdated.json()["detail"] == {"error": "terms_outdated", "accept_url": f"{access.url}/terms/accept",
                                         "current_terms_version": "2026-09-01"}
    access.accept_terms(request_id)
    assert http.post("/api/v1/refresh", json={"request_id": request_id}).status_code == 200

    access.revoke(request_id)
    revoked = http.post("/api/v1/refresh", json={"request_id": request_id, "dataset_version": "v1"})
    assert revoked.status_code == 403 and "revoked" in revoked.json()["detail"]


def test_rate_limit_answers_429_with_retry_after(http: httpx.Client, access: AccessService) -> None:
    access.rate_limit(2, retry_after=7)
    for _ in range(2):
        answer = http.get("/api/v1/manifest")
        assert answer.status_code == 429 and answer.headers["retry-after"] == "7"
        assert answer.json() == {"detail": "Rate limit exceeded."}
    assert http.get("/api/v1/manifest").status_code == 200


def test_signed_url_downloads_the_object_and_ranges_slice_it(
        http: httpx.Client, access: AccessService, s3_server: LocalS3Server) -> None:
    answer = grant(http)
    data = bucket_bytes(s3_server, H5)
    whole = httpx.get(url_of(answer, H5))
    assert whole.status_code == 200 and whole.content == data
    assert hashlib.sha256(whole.content).hexdigest() == answer["files"][0]["sha256"]
    part = httpx.get(url_of(answer, H5), headers={"Range": "bytes=100-"})
    assert part.status_code == 206 and part.content == data[100:]
    assert part.headers["content-range"] == f"bytes 100-{len(data) - 1}/{len(data)}"
    head = httpx.head(url_of(answer, CSV), headers={"Range": "bytes=0-9"})
    assert head.status_code == 206 and head.headers["content-length"] == "10" and head.content == b""
    beyond = httpx.get(url_of(answer, H5), headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416
    log = access.downloads(H5)
    assert [(r.status, r.range) for r in log] == [(200, None), (206, "bytes=100-"), (416, f"bytes={len(data)}-")]
    assert log[1].bytes_sent == len(data) - 100 and "?" not in log[0].path


def test_tampered_signature_and_revoked_id_are_refused(http: httpx.Client, access: AccessService) -> None:
    answer = grant(http)
    url = url_of(answer, CSV)
    bad = httpx.get(url[:-4] + ("0000" if not url.endswith("0000") else "1111"))
    assert bad.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in bad.content
    other_file = httpx.get(url.replace(f"/files/{CSV}", f"/files/{H5}"))
    assert other_file.status_code == 403
    access.revoke(answer["request_id"])
    assert httpx.get(url).status_code == 403


def test_urls_really_expire(http: httpx.Client, access: AccessService) -> None:
    access.url_ttl = 0.5
    url = url_of(grant(http), CSV)
    assert httpx.get(url).status_code == 200
    time.sleep(0.7)
    expired = httpx.get(url, headers={"Range": "bytes=10-"})
    assert expired.status_code == 403
    assert b"<Code>AccessDenied</Code><Message>Request has expired</Message>" in expired.content


def test_expiry_does_not_cut_a_transfer_in_flight(http: httpx.Client, access: AccessService) -> None:
    access.throttle = 4_000  # the ~1.2 kB metadata body is sent in paced 1 KiB chunks
    url = url_of(grant(http), CSV)
    with httpx.stream("GET", url) as whole:
        assert whole.status_code == 200
        access.clock_skew = 24 * 3600.0  # the URL expires after its headers, before its body
        body = whole.read()
    assert len(body) == access.catalog[CSV].size > 1024
    assert httpx.get(url, headers={"Range": "bytes=10-"}).status_code == 403


def test_misbehaviour_knobs(http: httpx.Client, access: AccessService, s3_server: LocalS3Server) -> None:
    answer = grant(http)
    data = bucket_bytes(s3_server, H5)
    access.ignore_range = True
    ignored = httpx.get(url_of(answer, H5), headers={"Range": "bytes=100-"})
    assert ignored.status_code == 200 and ignored.content == data
    access.ignore_range, access.corrupt = False, True
    corrupted = httpx.get(url_of(answer, H5)).content
    assert len(corrupted) == len(data) and hashlib.sha256(corrupted).digest() != hashlib.sha256(data).digest()
    access.corrupt, access.throttle = False, 4_000
    small = bucket_bytes(s3_server, CSV)
    start = time.monotonic()
    slow = httpx.get(url_of(answer, CSV))
    assert slow.content == small and time.monotonic() - start >= 0.9 * len(small) / 4_000


def test_pages_and_unknown_paths(http: httpx.Client, access: AccessService) -> None:
    for path in ("/terms", "/privacy", "/takedown", "/terms/accept", "/request"):
        page = http.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    access.bump_terms("2027-01-01")
    assert "2027-01-01" in http.get("/terms").text
    missing = http.get("/nope")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    assert http.get("/api/v1/refresh").status_code == 405


def test_reset_restores_defaults(access: AccessService) -> None:
    access.url_ttl, access.throttle, access.corrupt = 1.0, 10, True
    access.bump_terms("2099-01-01")
    access.rate_limit(5)
    access.reset()
    assert (access.url_ttl, access.throttle, access.corrupt, access.terms_version) == (
        3600.0, None, False, "2026-05-11")
    assert httpx.get(f"{access.url}/api/v1/manifest").status_code == 200
