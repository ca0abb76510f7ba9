"""The local S3 harness behaves like the real bucket where the app relies on it."""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import os
import threading

import botocore.exceptions
import botocore.session
import h5py
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError, ResponseStreamingError

from laion_fmri_tui.devserver import synthetic as syn
from laion_fmri_tui.devserver.s3server import RESET_BYTES, LocalS3Server

HELD_OUT_BETAS = ("derivatives/glmsingle-tedana/sub-01/ses-31/func/sub-01_ses-31_task-images_"
                  "space-T1w_stat-effect_desc-SingletrialBetas_statmap.nii.gz")
OLOC_MAP = ("derivatives/localizers/sub-01/ses-31/func/sub-01_ses-31_task-oloc_"
            "space-T1w_res-1pt5_contrast-objects_stat-z_statmap.nii.gz")


def anon_client(server: LocalS3Server, attempts: int = 1):
    """Unsigned, path-style, no retries by default, blind to the (broken) AWS env."""
    return _anon_client(server.url, attempts)


@functools.cache  # building a botocore client costs ~0.15 s (it loads the S3 model)
def _anon_client(url: str, attempts: int):
    session = botocore.session.Session(session_vars={
        "profile": (None, None, None, None),
        "config_file": (None, None, os.devnull, None),
        "credentials_file": (None, None, os.devnull, None)})
    return session.create_client("s3", region_name="us-west-2", endpoint_url=url, config=Config(
        signature_version=UNSIGNED, s3={"addressing_style": "path"},
        retries={"mode": "standard", "total_max_attempts": attempts}))


def status_of(call, **kwargs) -> int:
    try:
        return call(Bucket=syn.BUCKET, **kwargs)["ResponseMetadata"]["HTTPStatusCode"]
    except ClientError as error:
        return error.response["ResponseMetadata"]["HTTPStatusCode"]


def test_listing_shows_top_level_prefixes_and_root_files(s3: LocalS3Server) -> None:
    client = anon_client(s3)
    top = client.list_objects_v2(Bucket=syn.BUCKET, Delimiter="/")
    assert {p["Prefix"] for p in top["CommonPrefixes"]} == {"derivatives/", "stimuli/", "sub-01/", "sub-07/"}
    assert {o["Key"] for o in top["Contents"]} == set(syn.ROOT_KEYS)
    derivs = client.list_objects_v2(Bucket=syn.BUCKET, Prefix="derivatives/", Delimiter="/")
    assert {p["Prefix"].split("/")[1] for p in derivs["CommonPrefixes"]} == {
        "glmsingle-tedana", "rois", "freesurfer", "anatomical", "localizers", "tedana"}
    subs = client.list_objects_v2(Bucket=syn.BUCKET, Prefix="derivatives/glmsingle-tedana/", Delimiter="/")
    assert [p["Prefix"].split("/")[2] for p in subs["CommonPrefixes"]] == ["sub-01", "sub-03", "sub-05"]


def test_bucket_holds_exactly_the_synthetic_objects(s3: LocalS3Server, s3_objects) -> None:
    pages = anon_client(s3).get_paginator("list_objects_v2").paginate(Bucket=syn.BUCKET)
    listed = {o["Key"]: o["Size"] for page in pages for o in page["Contents"]}
    assert listed == {key: len(obj.data) for key, obj in s3_objects.items()}
    assert 20e6 < sum(listed.values()) < 40e6


def test_paginated_prefix_needs_a_continuation_token(s3: LocalS3Server) -> None:
    client = anon_client(s3)
    first = client.list_objects_v2(Bucket=syn.BUCKET, Prefix=syn.PAGINATED_PREFIX)
    assert first["IsTruncated"] and first["KeyCount"] == 1000
    second = client.list_objects_v2(Bucket=syn.BUCKET, Prefix=syn.PAGINATED_PREFIX,
                                    ContinuationToken=first["NextContinuationToken"])
    keys = [o["Key"] for o in first["Contents"] + second["Contents"]]
    assert len(set(keys)) == syn.PAGINATED_COUNT > 1000
    listings = [r for r in s3.requests if r.key == "" and r.method == "GET"]
    assert len(listings) == 2 and "continuation-token=" in listings[1].query


def test_etags_single_part_md5_and_multipart_dash_3(s3: LocalS3Server, s3_objects) -> None:
    client = anon_client(s3)
    large = client.head_object(Bucket=syn.BUCKET, Key=syn.LARGE_KEY)
    assert large["ContentLength"] == syn.LARGE_SIZE == 4 * 1024 * 1024
    assert large["ETag"].strip('"') == hashlib.md5(s3_objects[syn.LARGE_KEY].data).hexdigest()
    multi = client.head_object(Bucket=syn.BUCKET, Key=syn.MULTIPART_KEY)
    data = s3_objects[syn.MULTIPART_KEY].data
    assert multi["ContentLength"] == len(data) == 11010048
    part = syn.MULTIPART_PART_SIZE
    digests = b"".join(hashlib.md5(data[i:i + part]).digest() for i in range(0, len(data), part))
    assert multi["ETag"].strip('"') == f"{hashlib.md5(digests).hexdigest()}-3"


@pytest.mark.parametrize(("key", "expected"), [
    (HELD_OUT_BETAS, 403),
    ("derivatives/tedana/sub-01/ses-31/func/sub-01_ses-31_task-oloc_desc-optcom_bold.nii.gz", 403),
    ("sub-01/ses-31/func/sub-01_ses-31_task-oloc_run-01_echo-1_part-mag_bold.nii.gz", 403),
    (OLOC_MAP, 200),
    (OLOC_MAP.replace(".nii.gz", ".json"), 200),
    (OLOC_MAP.replace("task-oloc", "task-images"), 403),
    (syn.STIMULI_H5_KEY, 403),
    (syn.STIMULI_CSV_KEY, 403),
    ("stimuli/task-images_desc-CLIP_embeddings.h5", 200),
    ("derivatives/freesurfer/sub-01/mri/aparc+aseg.mgz", 200),
    ("README", 200),
])
def test_anonymous_access(s3: LocalS3Server, s3_objects, key: str, expected: int) -> None:
    client = anon_client(s3)
    assert status_of(client.get_object, Key=key) == expected
    assert status_of(client.head_object, Key=key) == expected
    assert s3_objects[key].public == (expected == 200)


def test_policy_denies_held_out_even_to_the_owner(s3: LocalS3Server) -> None:
    admin = s3.admin()
    assert status_of(admin.get_object, Key=HELD_OUT_BETAS) == 403
    assert status_of(admin.get_object, Key=syn.STIMULI_H5_KEY) == 200  # private, but ours


def test_request_log_records_range_and_bytes(s3: LocalS3Server, s3_objects) -> None:
    body = anon_client(s3).get_object(Bucket=syn.BUCKET, Key=syn.MULTIPART_KEY, Range="bytes=100-1123")
    assert body["ContentRange"] == f"bytes 100-1123/{syn.MULTIPART_SIZE}"
    assert body["Body"].read() == s3_objects[syn.MULTIPART_KEY].data[100:1124]
    (rec,) = s3.gets(syn.MULTIPART_KEY)
    assert (rec.method, rec.range, rec.status, rec.bytes_sent) == ("GET", "bytes=100-1123", 206, 1024)
    assert s3.bytes_sent(syn.MULTIPART_KEY) == 1024 and s3.bytes_sent() == 1024


def test_keys_are_logged_unquoted(s3: LocalS3Server) -> None:
    key = "derivatives/freesurfer/sub-01/mri/aparc+aseg.mgz"
    anon_client(s3).get_object(Bucket=syn.BUCKET, Key=key)["Body"].read()
    assert [r.status for r in s3.gets(key)] == [200]


def test_fail_next_503_fails_exactly_one_get(s3: LocalS3Server) -> None:
    client = anon_client(s3)
    s3.fail_next("README", 1)
    with pytest.raises(ClientError) as info:
        client.get_object(Bucket=syn.BUCKET, Key="README")
    assert info.value.response["Error"]["Code"] == "SlowDown"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert client.get_object(Bucket=syn.BUCKET, Key="README")["Body"].read()
    assert [(r.status, r.fault) for r in s3.gets("README")] == [(503, "503"), (200, None)]


def test_fail_next_503_is_retried_by_a_retrying_client(s3: LocalS3Server) -> None:
    s3.fail_next("README", 1)
    anon_client(s3, attempts=2).get_object(Bucket=syn.BUCKET, Key="README")["Body"].read()
    assert [r.status for r in s3.gets("README")] == [503, 200]


def test_fail_next_reset_cuts_the_body_short(s3: LocalS3Server, s3_objects) -> None:
    client = anon_client(s3)
    s3.fail_next(syn.LARGE_KEY, 1, kind="reset")
    answer = client.get_object(Bucket=syn.BUCKET, Key=syn.LARGE_KEY)
    assert answer["ContentLength"] == syn.LARGE_SIZE  # headers promise the whole object
    with pytest.raises(ResponseStreamingError):
        answer["Body"].read()
    assert client.get_object(Bucket=syn.BUCKET, Key=syn.LARGE_KEY)["Body"].read() == \
        s3_objects[syn.LARGE_KEY].data
    assert [(r.fault, r.bytes_sent) for r in s3.gets(syn.LARGE_KEY)] == [
        ("reset", RESET_BYTES), (None, syn.LARGE_SIZE)]


def test_fail_next_rejects_unknown_kinds(s3: LocalS3Server) -> None:
    with pytest.raises(ValueError):
        s3.fail_next("README", 1, kind="teapot")


PACE = 4096
"""Bytes a second of the throttle tests (sent 1 KiB at a time): 256 KiB would take a minute,
so a body that arrives whole within 30 s was not paced, whatever the machine's load; and
a paced one has sent 64 KiB only after 16 s."""


def read_within(body, seconds: float = 30.0) -> bytes:
    """``body`` read to its end, failing if that takes longer than ``seconds``."""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(body.read()), daemon=True)
    reader.start()
    reader.join(seconds)
    assert got, f"the body did not arrive within {seconds} s: it was paced"
    return got[0]


def test_throttle_slows_one_key_then_turns_off(s3: LocalS3Server) -> None:
    client = anon_client(s3)
    whole = "bytes=0-262143"
    s3.throttle(syn.MULTIPART_KEY, PACE)
    slow = client.get_object(Bucket=syn.BUCKET, Key=syn.MULTIPART_KEY, Range=whole)["Body"]
    assert len(slow.read(1024)) == 1024  # the paced body has started
    fast = client.get_object(Bucket=syn.BUCKET, Key=syn.LARGE_KEY, Range=whole)["Body"]
    assert len(read_within(fast)) == 262144, "other keys unaffected"
    assert s3.bytes_sent(syn.MULTIPART_KEY) < 64 * 1024, "the throttled key is paced"
    slow.close()
    s3.throttle(syn.MULTIPART_KEY, None)
    again = client.get_object(Bucket=syn.BUCKET, Key=syn.MULTIPART_KEY, Range=whole)["Body"]
    assert len(read_within(again)) == 262144, "the throttle turned off"


def test_throttle_all_keys(s3: LocalS3Server) -> None:
    client = anon_client(s3)
    s3.throttle(None, PACE)
    bodies = {key: client.get_object(Bucket=syn.BUCKET, Key=key, Range="bytes=0-262143")["Body"]
              for key in (syn.LARGE_KEY, syn.MULTIPART_KEY)}
    for body in bodies.values():
        assert len(body.read(1024)) == 1024
    # Unpaced, a body's bytes are handed to the socket at once (the client has read one KiB).
    assert all(s3.bytes_sent(key) < 64 * 1024 for key in bodies), [s3.bytes_sent(key) for key in bodies]
    for body in bodies.values():
        body.close()


def test_embeddings_open_with_h5py(s3: LocalS3Server) -> None:
    client = anon_client(s3)
    for model, dim in syn.EMBEDDING_DIMS.items():
        key = f"stimuli/task-images_desc-{model}_embeddings.h5"
        raw = client.get_object(Bucket=syn.BUCKET, Key=key)["Body"].read()
        with h5py.File(io.BytesIO(raw), "r") as f:
            assert set(f) == {"embedding", "image_ids", "valid"}
            assert f["embedding"].shape == (20, dim) and f["embedding"].dtype == "float16"
            assert f["image_ids"].shape == (20,) and f["image_ids"][0].startswith(b"shared_12rep_")
            assert f["valid"].dtype == bool and f["valid"][:].sum() == 19
    assert syn.EMBEDDING_DIMS["SigLIP2"] == 1152


def test_private_stimuli_and_segmentations_are_well_formed(s3_objects) -> None:
    rows = list(csv.DictReader(io.StringIO(s3_objects[syn.STIMULI_CSV_KEY].data.decode())))
    assert len(rows) == 20 and set(rows[0]) == {"image_name", "dataset", "participant",
                                                 "unique_or_shared", "n_reps"}
    with h5py.File(io.BytesIO(s3_objects[syn.STIMULI_H5_KEY].data), "r") as f:
        images = f["images"]
        assert images.shape == (20,)
        assert all(images[i].tobytes().startswith(b"\x89PNG") for i in range(20))
    with h5py.File(io.BytesIO(s3_objects["stimuli/task-images_desc-segmentations.h5"].data), "r") as f:
        assert f["masks"].shape == (5, 32, 32) and f["masks"].dtype == "uint8"


def test_held_out_rule() -> None:
    assert syn.is_denied(HELD_OUT_BETAS)
    assert not syn.is_denied(OLOC_MAP)
    assert syn.is_denied("sub-03/ses-31/func/sub-03_ses-31_task-oloc_run-01_bold.nii.gz")
    assert not syn.is_denied("derivatives/glmsingle-tedana/sub-01/ses-03/func/x.json")
    assert len(syn.denied_keys()) == 99


def test_isolated_env_breaks_any_client_that_reads_aws_config(tmp_path) -> None:
    assert os.environ["AWS_PROFILE"] == "laion-fmri-tui-tests-no-such-profile"
    assert os.environ["HOME"].startswith(str(tmp_path))
    with pytest.raises(botocore.exceptions.BotoCoreError):
        botocore.session.Session().create_client("s3", region_name="us-west-2")


def test_generator_is_deterministic() -> None:
    first = syn.build_objects()
    syn._build.cache_clear()
    again = syn.build_objects()
    assert first == again and first is not again


def test_a_second_server_starts_stops_and_shares_state(s3_server: LocalS3Server) -> None:
    with LocalS3Server() as other:
        assert other.url != s3_server.url
        assert status_of(anon_client(other).get_object, Key="README") == 200
        assert [r.key for r in other.requests] == ["README"] and not s3_server.gets("README")
        # Built under the broken AWS env of isolated_env: the admin client ignores it.
        assert status_of(other.admin().head_bucket) == 200
    with pytest.raises(RuntimeError):
        _ = other.url
