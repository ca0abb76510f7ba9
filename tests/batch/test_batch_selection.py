"""What --batch writes: the exact files, byte-identical, and nothing twice."""

from __future__ import annotations

import json

from batchtools import files_under

from laion_fmri_tui.core.plan.bids import bidsify_local_key
from laion_fmri_tui.devserver import synthetic

GLM = "derivatives/glmsingle-tedana"


def expected_local(keys) -> set[str]:
    return {bidsify_local_key(k) for k in keys}


def assert_identical(data_dir, s3_objects, keys) -> None:
    for key in keys:
        assert (data_dir / bidsify_local_key(key)).read_bytes() == s3_objects[key].data, key


def test_one_session_of_one_subject(run_batch, licensed_data_dir, s3_objects):
    result = run_batch("--subject", "01", "--ses", "02", "--data-dir", str(licensed_data_dir),
                       "--part-size", "1M")
    assert result.returncode == 0, result.stderr
    keys = [k for k in s3_objects if k.startswith(f"{GLM}/sub-01/ses-02/")]
    keys += [f"{GLM}/sub-01/sub-01_task-images_space-T1w_stat-rsquare_desc-R2mean_statmap.nii.gz"]
    keys += [k for k in s3_objects if k.startswith("derivatives/rois/sub-01/")]
    keys += list(synthetic.ROOT_KEYS)
    assert files_under(licensed_data_dir) == expected_local(keys)
    assert_identical(licensed_data_dir, s3_objects, keys)
    assert synthetic.MULTIPART_KEY in keys
    assert "label-FFA1" in " ".join(files_under(licensed_data_dir))
    assert f"done     {synthetic.MULTIPART_KEY}" in result.stdout
    assert "etag ok" in result.stdout and "md5 ok" in result.stdout
    assert "\r" not in result.stdout


def test_two_subjects_filtered_statmaps(run_batch, licensed_data_dir, s3_objects):
    result = run_batch("--subject", "sub-01", "--subject", "03", "--ses", "01", "--suffix", "statmap",
                       "--extension", "nii.gz", "--data-dir", str(licensed_data_dir))
    assert result.returncode == 0, result.stderr
    keys = [k for k in s3_objects
            if (k.startswith(f"{GLM}/sub-01/ses-01/") or k.startswith(f"{GLM}/sub-03/ses-01/"))
            and (k.endswith("_statmap.nii.gz") or k.endswith("_statmap.json"))]
    keys += [f"{GLM}/{s}/{s}_task-images_space-T1w_stat-rsquare_desc-R2mean_statmap.nii.gz"
             for s in ("sub-01", "sub-03")]
    keys += [k for k in s3_objects if k.startswith(("derivatives/rois/sub-01/", "derivatives/rois/sub-03/"))
             and k.endswith("_statmap.nii.gz")]
    keys += list(synthetic.ROOT_KEYS)
    assert files_under(licensed_data_dir) == expected_local(keys)
    assert_identical(licensed_data_dir, s3_objects, keys)


def test_stimulus_derivatives_without_a_subject(run_batch, licensed_data_dir, s3_objects, s3):
    result = run_batch("--include-embeddings", "CLIP", "dinov2", "--include-captions",
                       "--include-segmentations", "--data-dir", str(licensed_data_dir))
    assert result.returncode == 0, result.stderr
    keys = ["stimuli/task-images_desc-CLIP_embeddings.h5", "stimuli/task-images_desc-DINOv2_embeddings.h5",
            "stimuli/task-images_desc-captions.csv", "stimuli/task-images_desc-segmentations.h5",
            "stimuli/task-images_desc-segmentations_metadata.csv"]
    assert files_under(licensed_data_dir) == set(keys)
    assert_identical(licensed_data_dir, s3_objects, keys)
    assert not s3.gets("dataset_description.json"), "dataset files come with subjects only"


def test_localizers_only_with_held_out_oloc(run_batch, licensed_data_dir, s3_objects, s3):
    result = run_batch("--subject", "01", "--only", "localizers", "--ses", "01",
                       "--data-dir", str(licensed_data_dir))
    assert result.returncode == 0, result.stderr
    keys = [k for k in s3_objects if k.startswith("derivatives/localizers/sub-01/")
            and (("/ses-31/" not in k) or "task-oloc" in k)]
    assert any("/ses-31/" in k for k in keys)
    assert files_under(licensed_data_dir) == expected_local(keys + list(synthetic.ROOT_KEYS))
    denied = [k for k in s3_objects if k.startswith("derivatives/localizers/sub-01/ses-31/")
              and "task-oloc" not in k]
    assert denied and all(not s3.gets(k) for k in denied), "held-out keys are never requested"


def test_second_run_transfers_nothing(run_batch, licensed_data_dir, s3):
    args = ("--subject", "01", "--ses", "01", "--data-dir", str(licensed_data_dir))
    first = run_batch(*args)
    assert first.returncode == 0, first.stderr
    fetched = s3.bytes_sent()
    assert fetched > synthetic.LARGE_SIZE
    s3.clear_log()
    second = run_batch(*args, "--json")
    assert second.returncode == 0, second.stderr
    object_gets = [r for r in s3.requests if r.method == "GET" and r.key]
    assert object_gets == [], "a complete selection must not GET any object"
    events = [json.loads(line) for line in second.stdout.splitlines()]
    finished = events[-1]
    assert finished["event"] == "run_finished"
    assert finished["bytes_fetched"] == 0 and finished["done"] == 0 and finished["failed"] == 0
    assert finished["skipped"] == events[0]["files"]


def test_dry_run_lists_the_plan_and_writes_nothing(run_batch, data_dir):
    result = run_batch("--subject", "01", "--ses", "02", "--dry-run", "--accept-license",
                       "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert list(data_dir.iterdir()) == []
    assert synthetic.MULTIPART_KEY in result.stdout
    assert "absent" in result.stdout
    last = result.stdout.strip().splitlines()[-1]
    assert "files" in last and "to fetch" in last and "already present" in last


def test_dry_run_json_reports_local_state(run_batch, licensed_data_dir):
    first = run_batch("--subject", "03", "--ses", "01", "--data-dir", str(licensed_data_dir))
    assert first.returncode == 0, first.stderr
    result = run_batch("--subject", "03", "--ses", "01", "02", "--dry-run", "--json",
                       "--data-dir", str(licensed_data_dir))
    plan = json.loads(result.stdout)
    states = {i["key"]: i["state"] for i in plan["items"]}
    assert any(k.startswith(f"{GLM}/sub-03/ses-01/") for k in states)
    for key, state in states.items():
        expected = "absent" if "/ses-02/" in key else "complete"
        assert state == expected, key
    assert plan["bytes_present"] + plan["bytes_to_fetch"] == plan["bytes_total"]
    assert plan["bytes_present"] > 0 and plan["bytes_to_fetch"] > 0


def test_json_events_are_one_object_per_line(run_batch, licensed_data_dir):
    result = run_batch("--subject", "03", "--ses", "02", "--json", "--data-dir", str(licensed_data_dir))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "plan" and kinds[-1] == "run_finished"
    assert "file_done" in kinds and "file_started" in kinds
    done = [e for e in events if e["event"] == "file_done"]
    assert len(done) == events[0]["files"]
