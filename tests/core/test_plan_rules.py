"""One test per upstream selection rule, through ``build_plan`` against a real
local S3 server seeded with the synthetic bucket.

Expected sets are derived from the full bucket listing with plain string
predicates (independent of :mod:`laion_fmri_tui.core.plan.bids`), plus literal keys
that must be present, so each assertion is an exact key set.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from laion_fmri_tui.core.s3.catalog import Catalog
from laion_fmri_tui.core.errors import NoMatchingDataError, UsageError
from laion_fmri_tui.core.models import LocalState, Plan
from laion_fmri_tui.core.plan.planner import build_plan
from laion_fmri_tui.core.settings import S3Settings
from laion_fmri_tui.core.s3.client import S3Http
from laion_fmri_tui.core.plan.selection import DEFAULT_COMPONENTS, EMBEDDING_MODELS, Filters, Selection
from laion_fmri_tui.core.disk import partfile

BUCKET = "laion-fmri"
G1 = "derivatives/glmsingle-tedana/sub-01/"
R1 = "derivatives/rois/sub-01/"
R2MEAN1 = G1 + "sub-01_task-images_space-T1w_stat-rsquare_desc-R2mean_statmap.nii.gz"
HELD = ("ses-31", "ses-32", "ses-33", "ses-34")
ROOT_FILES = ("dataset_description.json", "participants.tsv", "participants.json", "README")
PER_SUBJECT = ("glmsingle", "rois", "freesurfer", "anatomical", "localizers", "raw")


class _Recorder:
    """Wraps the S3 connection to record which prefixes get listed."""

    def __init__(self, client) -> None:
        self._client = client
        self.listed: list[str] = []

    def list_objects_v2(self, **kwargs):
        self.listed.append(kwargs.get("Prefix", ""))
        return self._client.list_objects_v2(**kwargs)


@pytest.fixture
def recorder(s3_server) -> _Recorder:
    return _Recorder(S3Http(S3Settings(endpoint_url=s3_server.url)))


@pytest.fixture
def catalog(recorder: _Recorder) -> Catalog:
    return Catalog(recorder, BUCKET)


@pytest.fixture(scope="module")
def everything(s3_server) -> tuple[str, ...]:
    """Every key of the synthetic bucket (listed directly, not via the code under test)."""
    keys: list[str] = []
    for page in s3_server.admin().get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        keys.extend(o["Key"] for o in page.get("Contents", ()))
    return tuple(keys)


def plan_for(catalog: Catalog, data_dir: Path, subjects=("sub-01",),
             components=DEFAULT_COMPONENTS, **filters: object) -> Plan:
    selection = Selection(subjects=tuple(subjects), filters=Filters.build(**filters),
                          components=frozenset(components))
    return build_plan(catalog, selection, data_dir)


def keys(plan: Plan) -> set[str]:
    """Planned keys without the dataset-level files."""
    return {i.key for i in plan.items if i.component != "dataset"}


def under(everything, prefix: str, released: bool = True) -> set[str]:
    """Bucket keys under a prefix, by default without held-out sessions."""
    out = {k for k in everything if k.startswith(prefix) and not k.endswith("/")}
    if released:
        out = {k for k in out if not any(f"/{s}/" in k for s in HELD)}
    return out


def subject_level(keys_: set[str]) -> set[str]:
    return {k for k in keys_ if "/ses-" not in k}


def test_ses_is_strict_and_pins_only_r2mean(catalog, data_dir, everything) -> None:
    plan = plan_for(catalog, data_dir, components={"glmsingle"}, ses="02")
    expected = {k for k in under(everything, G1) if "/ses-02/" in k} | {R2MEAN1}
    assert keys(plan) == expected
    assert R2MEAN1.replace(".nii.gz", ".json") not in keys(plan)


def test_ses_averages_keeps_only_subject_level(catalog, data_dir, everything) -> None:
    plan = plan_for(catalog, data_dir, components={"glmsingle"}, ses="averages")
    assert keys(plan) == subject_level(under(everything, G1))
    assert R2MEAN1 in keys(plan)


def test_ses_session_plus_averages(catalog, data_dir, everything) -> None:
    plan = plan_for(catalog, data_dir, components={"glmsingle"}, ses=["02", "averages"])
    g1 = under(everything, G1)
    assert keys(plan) == {k for k in g1 if "/ses-02/" in k} | subject_level(g1)


def test_ses_bare_and_full_token_are_the_same(catalog, data_dir) -> None:
    bare = plan_for(catalog, data_dir, ses="02")
    full = plan_for(catalog, data_dir, ses="ses-02")
    assert bare.items == full.items and bare.items


def test_task_is_permissive(catalog, data_dir, everything) -> None:
    both = under(everything, G1) | under(everything, R1)
    plan = plan_for(catalog, data_dir, task="floc")
    assert keys(plan) == {k for k in both if "task-" not in k} == under(everything, R1)
    plan = plan_for(catalog, data_dir, task=["floc", "images"])
    assert keys(plan) == both


def test_space_desc_stat_are_exact_values(catalog, data_dir, everything) -> None:
    g1 = under(everything, G1)
    plan = plan_for(catalog, data_dir, components={"glmsingle"}, desc="SingletrialBetas")
    assert keys(plan) == {k for k in g1 if "desc-" not in k or "_desc-SingletrialBetas_" in k}
    with pytest.raises(NoMatchingDataError):  # values are case-sensitive full labels
        plan_for(catalog, data_dir, components={"glmsingle"}, desc="singletrial")
    plan = plan_for(catalog, data_dir, components={"glmsingle"}, stat="effect", space="T1w")
    assert keys(plan) == {k for k in g1 if ("stat-" not in k or "_stat-effect_" in k)
                          and ("space-" not in k or "_space-T1w_" in k)}


def test_suffix_is_exact(catalog, data_dir, everything) -> None:
    plan = plan_for(catalog, data_dir, suffix="trials")
    expected = {k for k in under(everything, G1) if k.split("/")[-1].split(".")[0].endswith("_trials")}
    assert keys(plan) == expected and expected
    with pytest.raises(NoMatchingDataError):
        plan_for(catalog, data_dir, suffix="trial")


def test_extension_is_exact_with_or_without_dot(catalog, data_dir, everything) -> None:
    both = under(everything, G1) | under(everything, R1)
    for value in ("func.gii", ".func.gii"):
        plan = plan_for(catalog, data_dir, extension=value)
        assert keys(plan) == {k for k in both if k.endswith(".func.gii")}
    with pytest.raises(NoMatchingDataError):
        plan_for(catalog, data_dir, extension="gii")


def test_json_sidecar_follows_a_matching_suffix(catalog, data_dir, everything) -> None:
    g1 = under(everything, G1)
    plan = plan_for(catalog, data_dir, components={"glmsingle"}, suffix="statmap", extension="nii.gz")
    assert keys(plan) == {k for k in g1 if k.endswith(("_statmap.nii.gz", "_statmap.json"))}
    plan = plan_for(catalog, data_dir, components={"glmsingle"}, suffix="statmap", extension="tsv")
    assert keys(plan) == {k for k in g1 if k.endswith("_statmap.json")}
    plan = plan_for(catalog, data_dir, components={"glmsingle"}, extension="nii.gz")
    assert keys(plan) == {k for k in g1 if k.endswith(".nii.gz")}


def test_filters_are_anded(catalog, data_dir, everything) -> None:
    plan = plan_for(catalog, data_dir, components={"glmsingle"}, ses="02", suffix="statmap",
                    stat="effect", extension="nii.gz")
    expected = {k for k in under(everything, G1)
                if "/ses-02/" in k and k.endswith(("_statmap.nii.gz", "_statmap.json"))
                and ("stat-" not in k or "_stat-effect_" in k)}
    betas = "ses-02_task-images_space-T1w_stat-effect_desc-SingletrialBetas_statmap.nii.gz"
    assert any(k.endswith(betas) for k in expected)
    assert not any("_stat-rsquare_" in k for k in keys(plan) - {R2MEAN1})
    assert keys(plan) == expected | {R2MEAN1}


def test_r2mean_pinned_for_sessions_not_for_averages(catalog, data_dir, everything) -> None:
    masks = {k for k in under(everything, R1) if "_mask." in k}
    trials02 = {k for k in under(everything, G1) if "/ses-02/" in k and "_trials." in k}
    plan = plan_for(catalog, data_dir, ses="02", suffix=["trials", "mask"])
    assert keys(plan) == trials02 | masks | {R2MEAN1}  # the pin bypasses every filter
    plan = plan_for(catalog, data_dir, ses="averages", suffix=["trials", "mask"])
    assert R2MEAN1 not in keys(plan)
    assert keys(plan) == masks


def test_rois_ignore_ses_but_not_suffix_or_extension(catalog, data_dir, everything) -> None:
    r1 = under(everything, R1)
    plan = plan_for(catalog, data_dir, components={"rois"}, ses="02")
    assert keys(plan) == r1
    plan = plan_for(catalog, data_dir, components={"rois"}, ses="02", suffix="mask", extension="nii.gz")
    assert keys(plan) == {k for k in r1 if k.endswith("_mask.nii.gz")}


def test_freesurfer_anatomical_localizers_are_pulled_whole(catalog, data_dir, everything) -> None:
    comps = {"freesurfer", "anatomical", "localizers"}
    plan = plan_for(catalog, data_dir, components=comps, ses="01", suffix="statmap", extension="nii.gz")
    expected = set()
    for name in comps:
        expected |= under(everything, f"derivatives/{name}/sub-01/", released=False)
    expected = {k for k in expected if "/ses-31/" not in k or "task-oloc" in k}
    assert keys(plan) == expected
    assert {i.component for i in plan.items} == comps | {"dataset"}


def test_localizer_oloc_released_other_ses31_held_out(catalog, data_dir, everything) -> None:
    plan = plan_for(catalog, data_dir, components={"localizers"})
    ses31 = under(everything, "derivatives/localizers/sub-01/ses-31/", released=False)
    oloc = {k for k in ses31 if "_task-oloc_" in k or "_task-oloc." in k}
    assert oloc and oloc <= keys(plan)
    assert not (ses31 - oloc) & keys(plan)
    assert ses31 - oloc <= set(plan.held_out) and ses31 - oloc


def test_held_out_sessions_never_planned(catalog, data_dir, everything) -> None:
    with pytest.raises(NoMatchingDataError, match="held out") as info:
        plan_for(catalog, data_dir, components={"glmsingle"}, ses="31")
    assert "sub-01" in str(info.value) and "\n" not in str(info.value)
    plan = plan_for(catalog, data_dir, components={"glmsingle"}, ses=["02", "31"])
    assert not any("/ses-31/" in k for k in keys(plan))
    assert set(plan.held_out) == {k for k in under(everything, G1, released=False) if "/ses-31/" in k}
    everything_plan = plan_for(catalog, data_dir, components={"glmsingle", "raw"})
    assert not any(f"/{s}/" in k for s in HELD for k in keys(everything_plan))
    assert set(everything_plan.held_out) == (
        under(everything, G1, released=False) | under(everything, "sub-01/", released=False)
    ) - (under(everything, G1) | under(everything, "sub-01/"))


def test_raw_run_echo_part_filters(catalog, data_dir, everything) -> None:
    raw = under(everything, "sub-01/")
    plan = plan_for(catalog, data_dir, components={"raw"}, run="01", echo="1", part="mag")
    def ok(k: str) -> bool:
        return (("run-" not in k or "_run-01_" in k) and ("echo-" not in k or "_echo-1_" in k)
                and ("part-" not in k or "_part-mag_" in k))
    assert keys(plan) == {k for k in raw if ok(k)}
    plan = plan_for(catalog, data_dir, components={"raw"}, suffix="events")
    assert keys(plan) == {k for k in raw if k.endswith("_events.tsv")}


def test_raw_bold_sidecar_follows_suffix(catalog, data_dir, everything) -> None:
    plan = plan_for(catalog, data_dir, components={"raw"}, suffix="bold", extension="nii.gz")
    raw = under(everything, "sub-01/")
    assert keys(plan) == {k for k in raw if k.endswith(("_bold.nii.gz", "_bold.json"))}
    assert any(k.endswith("_bold.json") for k in keys(plan))


def test_labels_dehyphenated_in_dest_only(catalog, data_dir) -> None:
    plan = plan_for(catalog, data_dir, components={"rois"})
    rois = {i.key: i.dest for i in plan.items if i.component == "rois"}
    hyphenated = {k: d for k, d in rois.items() if "label-FFA-1" in k or "label-laion-dorsal" in k}
    assert hyphenated
    for key, dest in hyphenated.items():
        rel = dest.relative_to(data_dir.resolve()).as_posix()
        assert rel == key.replace("label-FFA-1", "label-FFA1").replace(
            "label-pSTS-faces", "label-pSTSfaces").replace("label-laion-dorsal", "label-laiondorsal")
        assert "-" not in rel.split("label-")[1].split("_")[0]


def test_dataset_files_once_per_run(catalog, data_dir, everything) -> None:
    plan = plan_for(catalog, data_dir, subjects=("sub-01", "sub-03"))
    dataset = [i.key for i in plan.items if i.component == "dataset"]
    assert dataset == [k for k in ROOT_FILES if k in everything]
    assert [i.key for i in plan.items[: len(dataset)]] == dataset
    assert {k.split("/")[2] for k in keys(plan)} == {"sub-01", "sub-03"}


def test_subject_all_uses_discovery(catalog, data_dir) -> None:
    plan = plan_for(catalog, data_dir, subjects=("all",), components={"glmsingle", "rois", "raw"})
    subjects = {i.key.split("/")[2] if i.key.startswith("derivatives/") else i.key.split("/")[0]
                for i in plan.items if i.component != "dataset"}
    assert subjects == {"sub-01", "sub-03", "sub-05", "sub-07"}
    default = plan_for(catalog, data_dir, subjects=("all",))  # sub-07 has raw data only
    assert default.skipped_subjects == ("sub-07",)
    assert not any("sub-07" in i.key for i in default.items)
    with pytest.raises(NoMatchingDataError, match="sub-07"):
        plan_for(catalog, data_dir, subjects=("sub-07",))


def test_unknown_subject_is_a_usage_error(catalog, data_dir) -> None:
    with pytest.raises(UsageError) as info:
        plan_for(catalog, data_dir, subjects=("sub-02",))
    message = str(info.value)
    assert "sub-02" in message and "sub-01, sub-03, sub-05, sub-07" in message
    assert "\n" not in message


def test_listing_past_one_thousand_keys(catalog, data_dir, everything) -> None:
    plan = plan_for(catalog, data_dir, subjects=("sub-05",), components={"glmsingle"})
    expected = under(everything, "derivatives/glmsingle-tedana/sub-05/")
    assert len(expected) > 1000 and keys(plan) == expected


def test_stimulus_derivatives(catalog, data_dir) -> None:
    two = build_plan(catalog, Selection(embeddings=("CLIP", "SigLIP2")), data_dir)
    assert [(i.key, i.component) for i in two.items] == [
        ("stimuli/task-images_desc-CLIP_embeddings.h5", "embeddings"),
        ("stimuli/task-images_desc-SigLIP2_embeddings.h5", "embeddings"),
    ]
    full = build_plan(catalog, Selection(embeddings=EMBEDDING_MODELS, segmentations=True,
                                         captions=True, stimuli=True), data_dir)
    assert [(i.key, i.component) for i in full.items] == [
        *((f"stimuli/task-images_desc-{m}_embeddings.h5", "embeddings") for m in EMBEDDING_MODELS),
        ("stimuli/task-images_desc-segmentations.h5", "segmentations"),
        ("stimuli/task-images_desc-segmentations_metadata.csv", "segmentations"),
        ("stimuli/task-images_desc-captions.csv", "captions"),
    ]


def test_only_needed_prefixes_are_listed(catalog, recorder, data_dir) -> None:
    build_plan(catalog, Selection(captions=True, segmentations=True), data_dir)
    assert recorder.listed == ["stimuli/"]
    recorder.listed.clear()
    plan_for(catalog, data_dir, components={"glmsingle", "rois"})
    assert not any(p.startswith("stimuli/") for p in recorder.listed)
    assert not any(p.startswith(("derivatives/freesurfer/sub", "derivatives/anatomical/sub",
                                 "derivatives/localizers/", "sub-01/")) for p in recorder.listed)
    assert recorder.listed.count("derivatives/glmsingle-tedana/sub-01/") == 1


def test_empty_bucket_and_missing_stimulus_files(s3_server, data_dir) -> None:
    admin, bucket = s3_server.admin(), "laion-fmri-planner-empty"
    admin.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    try:
        empty = Catalog(S3Http(S3Settings(endpoint_url=s3_server.url)), bucket)
        with pytest.raises(NoMatchingDataError, match="no LAION-fMRI subjects"):
            build_plan(empty, Selection(subjects=("all",)), data_dir)
        with pytest.raises(NoMatchingDataError, match="task-images_desc-captions.csv"):
            build_plan(empty, Selection(captions=True), data_dir)
        assert build_plan(empty, Selection(stimuli=True), data_dir).items == ()
    finally:
        admin.delete_bucket(Bucket=bucket)


def test_totals_and_local_state(catalog, data_dir) -> None:
    plan = plan_for(catalog, data_dir, components={"rois"})
    complete, partial = [i for i in plan.items if i.component == "rois"][:2]
    complete.dest.parent.mkdir(parents=True, exist_ok=True)
    complete.dest.write_bytes(b"\0" * complete.size)
    part = partfile.part_path(partial.dest)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"\0" * 3)
    partfile.write_record(partial.dest, partfile.PartRecord(size=partial.size, etag=partial.etag))

    again = plan_for(catalog, data_dir, components={"rois"})
    by_key = {i.key: i for i in again.items}
    assert (by_key[complete.key].state, by_key[complete.key].present) == (LocalState.COMPLETE, complete.size)
    assert (by_key[partial.key].state, by_key[partial.key].present) == (LocalState.PARTIAL, 3)
    assert all(i.state is LocalState.ABSENT and i.present == 0
               for i in again.items if i.key not in (complete.key, partial.key))
    assert again.bytes_total == sum(i.size for i in again.items) == plan.bytes_total
    assert again.bytes_present == complete.size + 3
    assert again.bytes_to_fetch == again.bytes_total - complete.size - 3
    assert plan.bytes_present == 0 and plan.bytes_to_fetch == plan.bytes_total


def test_every_dest_is_inside_the_data_dir(catalog, data_dir) -> None:
    plan = build_plan(catalog, Selection(subjects=("all",), components=frozenset(PER_SUBJECT),
                                         embeddings=EMBEDDING_MODELS, segmentations=True,
                                         captions=True), data_dir)
    root = data_dir.resolve()
    assert plan.items
    for item in plan.items:
        assert item.dest.is_absolute() and root in item.dest.resolve().parents
    assert len({i.key for i in plan.items}) == len(plan.items)
