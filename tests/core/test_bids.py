"""Unit tests of the upstream selection rules in :mod:`laion_fmri_tui.core.plan.bids`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from laion_fmri_tui.core.plan import bids
from laion_fmri_tui.core.errors import UnsafeKeyError
from laion_fmri_tui.core.plan.selection import Filters

G = "derivatives/glmsingle-tedana/sub-01/"
BETAS = G + "ses-04/func/sub-01_ses-04_task-images_space-T1w_stat-effect_desc-SingletrialBetas_statmap.nii.gz"
BETAS_JSON = BETAS.replace(".nii.gz", ".json")
TRIALS = G + "ses-04/func/sub-01_ses-04_task-images_desc-SingletrialBetas_trials.tsv"
SES5 = BETAS.replace("ses-04", "ses-05")
R2MEAN = G + "sub-01_task-images_space-T1w_stat-rsquare_desc-R2mean_statmap.nii.gz"
NC12 = G + "sub-01_task-images_space-T1w_desc-Noiseceiling12rep_statmap.nii.gz"
ROI = "derivatives/rois/sub-01/face/sub-01_space-T1w_res-1pt8_label-FFA-1_mask.nii.gz"
BOLD = "sub-01/ses-01/func/sub-01_ses-01_task-images_run-01_echo-1_part-mag_bold.nii.gz"
EVENTS = "sub-01/ses-01/func/sub-01_ses-01_task-images_run-01_events.tsv"


def f(**kw: object) -> Filters:
    return Filters.build(**kw)


@pytest.mark.parametrize("name, expected", [
    ("a_b_statmap.nii.gz", ("a_b_statmap", "nii.gz", "statmap")),
    ("x/y/sub-01_hemi-L_label-V1_mask.func.gii", ("sub-01_hemi-L_label-V1_mask", "func.gii", "mask")),
    ("README", ("README", "", "README")),
    ("lh.sphere.reg", ("lh", "sphere.reg", "lh")),
    ("sub-01_events.tsv", ("sub-01_events", "tsv", "events")),
])
def test_split_name_splits_at_first_dot_and_last_underscore(name: str, expected: tuple) -> None:
    assert bids.split_name(name) == expected


def test_ses_is_strict_and_accepts_bare_or_full_values() -> None:
    for value in ("04", "ses-04", ["ses-04"]):
        flt = f(ses=value)
        assert bids.matches(BETAS, flt)
        assert not bids.matches(SES5, flt)
        assert not bids.matches(NC12, flt)
        assert not bids.matches(R2MEAN, flt)  # the pin is the planner's job


def test_ses_averages_keeps_only_subject_level() -> None:
    assert bids.matches(NC12, f(ses="averages"))
    assert not bids.matches(BETAS, f(ses="averages"))
    both = f(ses=["04", "averages"])
    assert bids.matches(NC12, both) and bids.matches(BETAS, both)
    assert not bids.matches(SES5, both)


def test_ses_token_in_folder_counts() -> None:
    key = G + "ses-04/figures/overview.png"
    assert bids.matches(key, f(ses="04"))
    assert not bids.matches(key, f(ses="05"))
    assert not bids.matches(key, f(ses="averages"))


def test_use_ses_false_ignores_ses_but_keeps_the_rest() -> None:
    assert bids.matches(ROI, f(ses="02"), use_ses=False)
    assert not bids.matches(ROI, f(ses="02"))
    assert not bids.matches(ROI, f(ses="02", suffix="statmap"), use_ses=False)


def test_permissive_entities() -> None:
    assert bids.matches(NC12, f(stat="effect"))  # no stat token: passes
    assert bids.matches(BETAS, f(stat="effect"))
    assert not bids.matches(BETAS, f(stat="rsquare"))
    assert bids.matches(BETAS, f(task="images", space="T1w", desc="SingletrialBetas"))
    assert not bids.matches(BETAS, f(desc="singletrial"))  # case-sensitive, exact
    assert bids.matches(ROI, f(task="floc"))
    assert bids.matches(BOLD, f(run="01", echo="1", part="mag"))
    assert not bids.matches(BOLD, f(run="02"))
    assert bids.matches(EVENTS, f(echo="2", part="phase"))


def test_entity_must_be_a_whole_token() -> None:
    # ``task-foo-bar`` is not a well-formed token, so the entity counts as absent.
    assert bids.matches("x/sub-01_task-foo-bar_bold.nii.gz", f(task="foo"))
    assert not bids.has_entity("x/sub-01_subtask-foo_bold.nii.gz", "task")
    assert not bids.has_entity_value(BETAS, "ses", "0")


def test_suffix_and_extension_are_exact() -> None:
    assert bids.matches(BETAS, f(suffix="statmap"))
    assert not bids.matches(BETAS, f(suffix="stat"))
    assert bids.matches(BETAS, f(extension="nii.gz"))
    assert bids.matches(BETAS, f(extension=".nii.gz"))  # Filters.build strips the dot
    assert not bids.matches(BETAS, f(extension="gz"))
    assert not bids.matches(BETAS, Filters(extension=(".nii.gz",)))  # raw value: no match


def test_json_sidecar_rules() -> None:
    assert bids.matches(BETAS_JSON, f(suffix="statmap", extension="nii.gz"))
    trials_json = TRIALS.replace(".tsv", ".json")
    assert not bids.matches(trials_json, f(suffix="statmap", extension="nii.gz"))
    assert not bids.matches(BETAS_JSON, f(extension="nii.gz"))
    assert bids.matches(BETAS_JSON, f(extension="json"))


def test_filters_are_anded() -> None:
    flt = f(ses="04", suffix="trials")
    assert bids.matches(TRIALS, flt)
    assert not bids.matches(BETAS, flt)
    assert not bids.matches(TRIALS.replace("ses-04", "ses-05"), flt)


@pytest.mark.parametrize("key", [
    G + "ses-31/func/sub-01_ses-31_task-images_space-T1w_stat-effect_desc-SingletrialBetas_statmap.nii.gz",
    G + "ses-32/func/x.json",
    G + "ses-33/func/x.json",
    G + "ses-34/func/x.json",
    G + "ses-34",
    "sub-03/ses-31/anat/sub-03_ses-31_MEGRE.nii.gz",
    "sub-03/ses-31/func/sub-03_ses-31_task-oloc_run-01_bold.nii.gz",
    "derivatives/tedana/sub-03/ses-31/func/sub-03_ses-31_task-oloc_desc-optcom_bold.nii.gz",
    "derivatives/localizers/sub-01/ses-31/func/sub-01_ses-31_task-images_stat-z_statmap.nii.gz",
])
def test_held_out_keys(key: str) -> None:
    assert bids.is_held_out(key)


@pytest.mark.parametrize("key", [
    G + "ses-01/func/x.json",
    G + "ses-30/func/x.json",
    G + "ses-35/func/x.json",
    R2MEAN,
    "derivatives/localizers/sub-01/ses-31/func/sub-01_ses-31_task-oloc_space-T1w_res-1pt5_contrast-objects_stat-z_statmap.nii.gz",
    "derivatives/localizers/sub-01/ses-31/func/sub-01_ses-31_task-oloc.json",
])
def test_released_keys(key: str) -> None:
    assert not bids.is_held_out(key)


@pytest.mark.parametrize("key, local", [
    ("rois/sub-01_label-FFA-1_mask.nii.gz", "rois/sub-01_label-FFA1_mask.nii.gz"),
    ("r/sub-01_label-pSTS-faces_mask.func.gii", "r/sub-01_label-pSTSfaces_mask.func.gii"),
    ("r/sub-01_hemi-L_label-laion-dorsal_mask.label", "r/sub-01_hemi-L_label-laiondorsal_mask.label"),
    ("r/sub-01_label-V1v_mask.nii.gz", "r/sub-01_label-V1v_mask.nii.gz"),
    ("r/sub-01_task-foo-bar_bold.nii.gz", "r/sub-01_task-foo-bar_bold.nii.gz"),
    ("r/label-a-b/x", "r/label-ab/x"),
    ("r/x_label-a-b", "r/x_label-ab"),
    ("r/x_label-a-b-c.json", "r/x_label-abc.json"),
])
def test_bidsify_local_key(key: str, local: str) -> None:
    assert bids.bidsify_local_key(key) == local
    assert bids.bidsify_local_key(local) == local  # idempotent


@pytest.mark.parametrize("key", [
    "", "/etc/passwd", "a/../../x", "../x", "a/./b", "./a", "a//b", "a/", "a\\b", "a\x00b",
    "C:/x", "..", ".",
])
def test_local_path_refuses_unsafe_keys(tmp_path: Path, key: str) -> None:
    with pytest.raises(UnsafeKeyError) as info:
        bids.local_path(tmp_path, key)
    assert "\n" not in str(info.value)


def test_local_path_follows_a_symlink_the_user_made(tmp_path: Path) -> None:
    """A subject folder linked to another disk is the user's choice: honour it."""
    outside = tmp_path / "scratch"
    outside.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    os.symlink(outside, data / "derivatives")
    dest = bids.local_path(data, "derivatives/x.nii.gz")
    assert dest == data / "derivatives" / "x.nii.gz"


def test_local_path_maps_inside_data_dir(tmp_path: Path) -> None:
    dest = bids.local_path(tmp_path, ROI)
    assert dest == tmp_path.resolve() / ROI.replace("FFA-1", "FFA1")
    assert dest.is_absolute()
    assert tmp_path.resolve() in dest.resolve().parents


def test_key_helpers() -> None:
    assert bids.r2mean_key("sub-03") == (
        "derivatives/glmsingle-tedana/sub-03/"
        "sub-03_task-images_space-T1w_stat-rsquare_desc-R2mean_statmap.nii.gz")
    assert bids.component_prefix("raw", "sub-01") == "sub-01/"
    assert bids.component_prefix("rois", "sub-01") == "derivatives/rois/sub-01/"
    assert bids.embedding_key("CLIP") == "stimuli/task-images_desc-CLIP_embeddings.h5"
