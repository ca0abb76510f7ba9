"""--batch against the dataset package's own selection rules.

The first test is a rule the package has and the tool must share (``--run``,
``--echo`` and ``--part`` narrow raw data only). The others are one test per
row of the README table "Differences from ``laion-fmri download``": each pins
what the tool does where it deliberately differs from the package.
"""

from __future__ import annotations

import json

from laion_fmri_tui.devserver import synthetic

GLM = "derivatives/glmsingle-tedana"


def planned(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def keys_of(plan: dict, *components: str) -> set[str]:
    return {i["key"] for i in plan["items"] if i["component"] in components}


def one_line_error(result) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# ---- the package's rule: run/echo/part are raw-only filters ------------------

def test_run_echo_part_filter_raw_data_only(run_batch, data_dir):
    """The same selection with and without --run/--echo/--part plans the same
    derivative files, GLMsingle's run-0001.. figures included; raw narrows."""
    base = ("--subject", "01", "03", "--ses", "01", "02", "--include-raw", "--include-localizers",
            "--dry-run", "--json", "--data-dir", str(data_dir))
    whole = planned(run_batch(*base))
    narrowed = planned(run_batch(*base, "--run", "02", "--echo", "1", "--part", "mag"))
    derivatives = ("glmsingle", "rois", "localizers", "dataset")
    assert keys_of(narrowed, *derivatives) == keys_of(whole, *derivatives)
    figures = {k for k in keys_of(narrowed, "glmsingle") if k.startswith(synthetic.RUN_FIGURES_PREFIX)
               and "_run-" in k}
    assert len(figures) == synthetic.RUN_FIGURES
    assert any("_run-01_" in k for k in keys_of(narrowed, "localizers"))  # pulled whole
    raw_whole, raw_narrowed = keys_of(whole, "raw"), keys_of(narrowed, "raw")
    assert raw_narrowed < raw_whole
    assert any("_run-01_" in k for k in raw_whole) and not any("_run-01_" in k for k in raw_narrowed)
    assert not any("_echo-2_" in k or "_part-phase_" in k for k in raw_narrowed)
    assert any(k.endswith("_run-02_events.tsv") for k in raw_narrowed), "files without echo/part stay"


# ---- one test per row of "Differences from laion-fmri download" ----------------

def test_row_extension_with_a_leading_dot(run_batch, data_dir):
    """``--extension .nii.gz`` is ``--extension nii.gz`` (the package matches nothing)."""
    base = ("--subject", "03", "--ses", "01", "--dry-run", "--json", "--data-dir", str(data_dir))
    dotted = planned(run_batch(*base, "--extension", ".nii.gz"))
    bare = planned(run_batch(*base, "--extension", "nii.gz"))
    assert keys_of(dotted, "glmsingle") == keys_of(bare, "glmsingle")
    assert keys_of(dotted, "glmsingle") and all(k.endswith(".nii.gz") for k in keys_of(dotted, "glmsingle"))


def test_row_model_names_are_case_insensitive(run_batch, data_dir):
    """``clip`` is CLIP (the package raises ValueError on anything but the exact label)."""
    plan = planned(run_batch("--include-embeddings", "clip", "SIGLIP2", "--dry-run", "--json",
                             "--data-dir", str(data_dir)))
    assert keys_of(plan, "embeddings") == {"stimuli/task-images_desc-CLIP_embeddings.h5",
                                           "stimuli/task-images_desc-SigLIP2_embeddings.h5"}


def test_row_subject_all_skips_a_subject_with_nothing_matching(run_batch, data_dir):
    """sub-05 has no ses-02 and sub-07 no derivatives: they are named and skipped,
    the others are planned (the package stops at the first such subject)."""
    result = run_batch("--subject", "all", "--ses", "02", "--dry-run", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "nothing matched for sub-05, sub-07" in result.stdout.strip().splitlines()[-1]
    assert f"{GLM}/sub-01/ses-02/" in result.stdout and f"{GLM}/sub-03/ses-02/" in result.stdout


def test_row_refuses_when_only_the_r2mean_mask_would_be_fetched(run_batch, data_dir, s3):
    """sub-05 has no ses-02: the package fetches the dataset files and the
    always-added R2mean map and exits 0; the tool names the mistake and fetches nothing."""
    result = run_batch("--subject", "05", "--ses", "02", "--accept-license", "--data-dir", str(data_dir))
    assert result.returncode == 2
    line = one_line_error(result)
    assert "no LAION-fMRI files matched sub-05" in line and "ses=02" in line
    assert not [r for r in s3.requests if r.method == "GET" and r.key]
    assert not (data_dir / "derivatives").exists() and not (data_dir / "README").exists()


def test_row_refuses_when_an_included_part_matches_nothing(run_batch, data_dir, s3):
    """sub-07 has no FreeSurfer tree (only raw events): the package exits 0
    after the four dataset files; the tool refuses in one line."""
    result = run_batch("--subject", "07", "--include-freesurfer", "--accept-license",
                       "--data-dir", str(data_dir))
    assert result.returncode == 2
    assert "no LAION-fMRI files matched sub-07" in one_line_error(result)
    assert "(glmsingle, rois, freesurfer)" in result.stderr
    assert not [r for r in s3.requests if r.method == "GET" and r.key]
    assert not (data_dir / "README").exists()


def test_row_refuses_a_subject_not_in_the_bucket(run_batch, data_dir, s3):
    """The package lists sub-99's empty prefixes after fetching the dataset files;
    the tool names the subjects there are and fetches nothing."""
    result = run_batch("--subject", "99", "--accept-license", "--data-dir", str(data_dir))
    assert result.returncode == 2
    line = one_line_error(result)
    assert "unknown subject sub-99" in line and "sub-01, sub-03, sub-05, sub-07" in line
    assert not [r for r in s3.requests if r.method == "GET" and r.key]
    assert not (data_dir / "README").exists()


def test_row_dataset_files_are_fetched_once_per_run(run_batch, licensed_data_dir, s3):
    """Two subjects, one GET per dataset file (the package fetches them per
    subject, every run); a rerun fetches none of them again."""
    args = ("--subject", "01", "03", "--ses", "03", "--data-dir", str(licensed_data_dir))
    first = run_batch(*args)
    assert first.returncode == 0, first.stderr
    for key in synthetic.ROOT_KEYS:
        assert len(s3.gets(key)) == 1, key
        assert (licensed_data_dir / key).is_file()
    s3.clear_log()
    again = run_batch(*args)
    assert again.returncode == 0, again.stderr
    assert all(not s3.gets(key) for key in synthetic.ROOT_KEYS)


def test_row_subject_all_names_the_skipped_subjects_in_the_json_plan(run_batch, data_dir):
    plan = planned(run_batch("--subject", "all", "--ses", "02", "--dry-run", "--json", "--data-dir", str(data_dir)))
    assert plan["skipped_subjects"] == ["sub-05", "sub-07"]


def test_row_a_session_no_part_has_is_refused_not_planned_as_rois_alone(run_batch, data_dir, s3):
    """sub-03 has ROIs (which carry no session) but no ses-77: the package fetches
    the ROIs and the R2mean map and exits 0; the tool names the sessions there are."""
    result = run_batch("--subject", "03", "--ses", "77", "--accept-license", "--data-dir", str(data_dir))
    assert result.returncode == 2
    assert ("--ses 77 matched no session of sub-03 (its sessions: 01, 02, 03, 31, 32); the ROIs and the "
            "R2mean map alone are not fetched: check --ses") in one_line_error(result)
    assert not [r for r in s3.requests if r.method == "GET" and r.key]
    assert not (data_dir / "derivatives").exists()
    only_rois = planned(run_batch("--subject", "03", "--ses", "77", "--only", "rois", "--dry-run", "--json",
                                  "--data-dir", str(data_dir)))
    assert keys_of(only_rois, "rois"), "with --only rois no part has sessions: --ses does not apply"


def test_row_a_subject_with_raw_data_only_is_refused_naming_its_parts(run_batch, data_dir, s3):
    """sub-07 is in the bucket with raw data only: the package fetches the
    dataset files and exits 0; the tool says what sub-07 has and how to get it."""
    result = run_batch("--subject", "07", "--accept-license", "--data-dir", str(data_dir))
    assert result.returncode == 2
    assert ("no LAION-fMRI files matched sub-07 with no filters in s3://laion-fmri/ (glmsingle, rois); "
            "sub-07 also has raw (add --include-raw); see laion-fmri-tui info --subject 07") == \
        one_line_error(result).removeprefix("laion-fmri-tui: ")
    assert not (data_dir / "README").exists()


def test_a_run_that_matches_nothing_lists_the_runs_there(run_batch, data_dir):
    result = run_batch("--subject", "07", "--include-raw", "--run", "7", "--dry-run", "--data-dir", str(data_dir))
    assert result.returncode == 2
    assert "filters run=7" in one_line_error(result) and "; runs there: 01;" in result.stderr
