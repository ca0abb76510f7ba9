"""Live listings: one level at a time, every page, cached for the run."""

from __future__ import annotations

import threading

import pytest

from laion_fmri_tui.core.s3.catalog import SUBJECT_ROOTS, Catalog
from laion_fmri_tui.core.errors import BucketUnreachableError
from laion_fmri_tui.core.settings import S3Settings
from laion_fmri_tui.core.s3.client import S3Http
from laion_fmri_tui.devserver import synthetic


@pytest.fixture
def catalog(s3) -> Catalog:
    return Catalog(S3Http(S3Settings(endpoint_url=s3.url)), synthetic.BUCKET)


def listings(s3) -> list:
    return [r for r in s3.requests if r.method == "GET" and r.key == ""]


def test_root_level_lists_prefixes_and_dataset_files(catalog):
    root = catalog.level("")
    assert {"derivatives", "stimuli", "sub-01", "sub-07"} <= set(root.names)
    assert {o.key for o in root.objects} >= set(synthetic.ROOT_KEYS)


def test_level_follows_continuation_tokens_past_1000_keys(catalog, s3):
    level = catalog.level(synthetic.PAGINATED_PREFIX)
    assert len(level.objects) == synthetic.PAGINATED_COUNT
    assert len(listings(s3)) >= 2, "more than one page was requested"
    assert all("delimiter=%2F" in r.query for r in listings(s3))


def test_recursive_listing_follows_pages_too(catalog):
    objects = catalog.objects("derivatives/glmsingle-tedana/sub-05/")
    assert sum(o.key.startswith(synthetic.PAGINATED_PREFIX) for o in objects) == synthetic.PAGINATED_COUNT


def test_listings_are_cached_for_the_run(catalog, s3):
    catalog.level("derivatives/")
    catalog.level("derivatives/")
    assert len(listings(s3)) == 1


def test_a_recursive_listing_answers_the_levels_below_it(catalog, s3):
    catalog.objects("derivatives/rois/sub-01/")
    before = len(listings(s3))
    face = catalog.level("derivatives/rois/sub-01/face/")
    top = catalog.level("derivatives/rois/sub-01/")
    assert len(listings(s3)) == before
    assert set(top.names) == {"face", "place", "laion"} and top.objects == ()
    assert all(o.key.startswith("derivatives/rois/sub-01/face/") for o in face.objects) and face.objects


def test_etags_sizes_and_multipart_detection(catalog, s3_objects):
    objects = {o.key: o for o in catalog.objects("derivatives/glmsingle-tedana/sub-01/ses-0")}
    big = objects[synthetic.MULTIPART_KEY]
    assert big.size == synthetic.MULTIPART_SIZE and big.multipart_parts == 3 and big.plain_md5 is None
    large = objects[synthetic.LARGE_KEY]
    assert large.size == synthetic.LARGE_SIZE and large.plain_md5 == large.etag


def test_subjects_are_discovered_across_the_upstream_prefixes(catalog):
    assert catalog.subjects() == ["sub-01", "sub-03", "sub-05", "sub-07"]


def test_an_unreachable_endpoint_is_one_clear_error():
    catalog = Catalog(S3Http(S3Settings(endpoint_url="http://127.0.0.1:9", max_attempts=1)), "laion-fmri")
    with pytest.raises(BucketUnreachableError) as info:
        catalog.level("")
    assert str(info.value).startswith("could not reach the S3 endpoint http://127.0.0.1:9")


def test_list_ahead_lists_separate_prefixes_at_the_same_time(catalog, s3):
    prefixes = [f"derivatives/glmsingle-tedana/sub-{n}/" for n in ("01", "03", "05")]
    prefixes += ["derivatives/rois/sub-01/", "derivatives/rois/sub-03/", "derivatives/freesurfer/sub-01/"]
    catalog.list_ahead(prefixes)
    for prefix in prefixes:
        catalog.objects(prefix)
    seen = sorted(listings(s3), key=lambda r: r.time)
    assert {p for p in prefixes if any(f"prefix={p.replace('/', '%2F')}" in r.query for r in seen)} == set(prefixes)
    overlapping = [b for a, b in zip(seen, seen[1:]) if b.time < a.time + (a.duration or 0)]
    assert overlapping, "each listing waited for the one before it"
    s3.clear_log()
    assert all(catalog.objects(p) for p in prefixes)
    assert not listings(s3), "prefetched listings are answered from the cache"


def test_list_ahead_lists_each_prefix_once_and_objects_waits_for_it(catalog, s3):
    prefixes = [f"derivatives/glmsingle-tedana/sub-{n}/" for n in ("01", "03", "05")] + ["derivatives/rois/sub-01/"]
    catalog.list_ahead(prefixes)
    got = {p: catalog.objects(p) for p in prefixes}
    fresh = Catalog(S3Http(S3Settings(endpoint_url=s3.url)), synthetic.BUCKET)
    assert got == {p: fresh.objects(p) for p in prefixes} and all(got.values())
    first_pages = [r.query for r in listings(s3) if "continuation-token" not in r.query]
    for p in prefixes:  # the ahead listing, then the fresh catalog's: none twice in the first
        assert sum(f"prefix={p.replace('/', '%2F')}&" in q or q.endswith(f"prefix={p.replace('/', '%2F')}")
                   for q in first_pages) == 2, p


def test_a_listing_started_ahead_raises_its_error_when_its_objects_are_asked_for(s3):
    catalog = Catalog(S3Http(S3Settings(endpoint_url=s3.url, max_attempts=1)), synthetic.BUCKET)
    s3.fail_next("", 1, "503")
    catalog.list_ahead(["derivatives/rois/sub-01/"])  # returns; the failure is the listing's
    with pytest.raises(BucketUnreachableError, match="HTTP 503"):
        catalog.objects("derivatives/rois/sub-01/")
    assert catalog.objects("derivatives/rois/sub-01/"), "the next plan lists it again"


def test_levels_ahead_lists_levels_at_once_and_level_waits_for_them(catalog, s3, monkeypatch):
    roots = list(SUBJECT_ROOTS)
    together = threading.Barrier(len(roots), timeout=10)  # broken unless every listing is under way at once
    list_page = S3Http.list_objects_v2

    def list_together(client, **kwargs):
        together.wait()
        return list_page(client, **kwargs)

    monkeypatch.setattr(S3Http, "list_objects_v2", list_together)
    catalog.levels_ahead(roots)
    got = {root: catalog.level(root) for root in roots}
    assert len(listings(s3)) == len(roots), "each level listed once, by the listing started ahead"
    assert got[""].names and got["derivatives/rois/"].names
    monkeypatch.undo()
    s3.clear_log()
    assert catalog.subjects() == ["sub-01", "sub-03", "sub-05", "sub-07"]
    assert not listings(s3), "discovery is answered by the levels listed ahead"


def test_a_level_listed_ahead_raises_its_error_once_then_lists_again(s3):
    catalog = Catalog(S3Http(S3Settings(endpoint_url=s3.url, max_attempts=1)), synthetic.BUCKET)
    s3.fail_next("", 1, "503")
    catalog.levels_ahead(["derivatives/"])
    with pytest.raises(BucketUnreachableError, match="HTTP 503"):
        catalog.level("derivatives/")
    assert catalog.level("derivatives/").names, "the next look lists it again"


def finish_listings_ahead() -> None:
    """Wait until every listing pool thread has ended (its listing stored or failed)."""
    for thread in threading.enumerate():
        if thread.name.startswith("listing"):
            thread.join(30)
            assert not thread.is_alive(), "a listing ahead did not finish"


def test_a_failed_level_listed_ahead_reaches_a_waiter_that_comes_after_it_failed(s3):
    """The browser's order-dependent failure: the failed listing was forgotten
    before its waiter looked, so the waiter listed again and never saw it."""
    catalog = Catalog(S3Http(S3Settings(endpoint_url=s3.url, max_attempts=1)), synthetic.BUCKET)
    s3.fail_next("", 1, "503")
    catalog.levels_ahead(["derivatives/"])
    finish_listings_ahead()
    with pytest.raises(BucketUnreachableError, match="HTTP 503"):
        catalog.level("derivatives/")
    assert len(listings(s3)) == 1, "the error came from the listing started ahead, not a second one"
    assert catalog.level("derivatives/").names, "the next look lists it again"


def test_a_failed_listing_ahead_reaches_objects_asked_for_after_it_failed(s3):
    catalog = Catalog(S3Http(S3Settings(endpoint_url=s3.url, max_attempts=1)), synthetic.BUCKET)
    s3.fail_next("", 1, "503")
    catalog.list_ahead(["derivatives/rois/sub-01/"])
    finish_listings_ahead()
    with pytest.raises(BucketUnreachableError, match="HTTP 503"):
        catalog.objects("derivatives/rois/sub-01/")
    assert catalog.objects("derivatives/rois/sub-01/"), "the next plan lists it again"


def test_a_new_round_of_listings_ahead_lists_a_failure_nobody_took_again(s3):
    catalog = Catalog(S3Http(S3Settings(endpoint_url=s3.url, max_attempts=1)), synthetic.BUCKET)
    s3.fail_next("", 1, "503")
    catalog.levels_ahead(["derivatives/"])
    finish_listings_ahead()
    catalog.levels_ahead(["derivatives/"])
    assert catalog.level("derivatives/").names
