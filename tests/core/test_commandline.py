"""The printed --batch command parses back to the very same Selection."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from laion_fmri_tui.batch.args import build_parser, selection_from
from laion_fmri_tui.core.scripts.command_line import command_line, selection_argv, slurm_script
from laion_fmri_tui.core.plan.selection import (
    COMPONENTS, DEFAULT_COMPONENTS, EMBEDDING_MODELS, Filters, Selection,
)

SELECTIONS = [
    Selection(subjects=("sub-01",)),
    Selection(subjects=("all",)),
    Selection(subjects=("sub-01", "sub-03", "sub-05")),
    Selection(subjects=("sub-01",), filters=Filters.build(ses=["01", "02"], task="images")),
    Selection(subjects=("sub-07",), filters=Filters.build(
        ses="ses-31", task="images", space="T1w", desc="SingletrialBetas", stat="effect",
        run=["01", "02"], echo="1", part="mag", suffix="statmap", extension=".nii.gz")),
    Selection(subjects=("sub-01",), components=frozenset({"glmsingle"})),
    Selection(subjects=("sub-01",), components=frozenset({"raw", "anatomical"})),
    Selection(subjects=("sub-01",), components=DEFAULT_COMPONENTS | {"freesurfer", "localizers"}),
    Selection(subjects=("sub-01",), components=frozenset(COMPONENTS)),
    Selection(embeddings=EMBEDDING_MODELS),
    Selection(embeddings=("SigLIP2", "CLIP")),
    Selection(embeddings=("DINOv2",)),
    Selection(embeddings=tuple(reversed(EMBEDDING_MODELS))),
    Selection(segmentations=True),
    Selection(captions=True),
    Selection(stimuli=True),
    Selection(subjects=("sub-03",), embeddings=("PEcore",), segmentations=True, captions=True,
              stimuli=True, components=frozenset({"rois"}), filters=Filters.build(space="MNI")),
    # values that only survive with care: odd characters, a leading dash, a doubled prefix
    Selection(subjects=("sub-01",), filters=Filters.build(desc=["it's", "a b", "$HOME;rm"])),
    Selection(subjects=("sub-01",), filters=Filters.build(desc="-weird", task=["x", "-y"])),
    Selection(subjects=("sub-01",), filters=Filters(ses=("ses-01",), run=("run-2",))),
]


def parse(argv: list[str]) -> Selection:
    assert argv[:2] == ["laion-fmri-tui", "--batch"]
    return selection_from(build_parser().parse_args(argv[1:]))


@pytest.mark.parametrize("selection", SELECTIONS)
def test_round_trip(selection: Selection) -> None:
    assert parse(selection_argv(selection)) == selection


@pytest.mark.parametrize("selection", SELECTIONS[:6])
def test_round_trip_through_the_shell_line(selection: Selection, tmp_path: Path) -> None:
    line = command_line([selection], tmp_path / "with space's")
    argv = shlex.split(line)
    assert parse(argv) == selection
    args = build_parser().parse_args(argv[1:])
    assert Path(args.data_dir) == tmp_path / "with space's"
    assert args.accept_license


def test_flags_read_like_upstream() -> None:
    sel = Selection(subjects=("sub-01",), components=DEFAULT_COMPONENTS | {"raw"},
                    embeddings=EMBEDDING_MODELS)
    assert selection_argv(sel, data_dir=Path("/d")) == [
        "laion-fmri-tui", "--batch", "--subject", "sub-01", "--include-raw",
        "--include-embeddings", "--data-dir", "/d", "--accept-license"]
    only = selection_argv(Selection(subjects=("sub-01",), components=frozenset({"rois", "raw"})),
                          accept_license=False)
    assert only[-3:] == ["--only", "rois", "raw"]
    assert "--accept-license" not in only


def test_shell_quoting_of_odd_values() -> None:
    sel = Selection(subjects=("sub-01",), filters=Filters.build(desc=["it's", "$(reboot)"]))
    line = command_line([sel], Path("/data dir/x"))
    assert "'/data dir/x'" in line
    assert "'$(reboot)'" in line
    assert shlex.split(line)[5:7] == ["it's", "$(reboot)"]


def test_several_selections_give_one_line_each_and_skip_empty() -> None:
    text = command_line([SELECTIONS[0], Selection(), SELECTIONS[9]], Path("/d"))
    assert len(text.splitlines()) == 2


def test_refuses_what_flags_cannot_say() -> None:
    with pytest.raises(ValueError, match="nothing selected"):
        selection_argv(Selection())
    with pytest.raises(ValueError, match="no per-subject"):
        selection_argv(Selection(subjects=("sub-01",), components=frozenset()))
    with pytest.raises(ValueError, match="unknown component"):
        selection_argv(Selection(subjects=("sub-01",), components=frozenset({"bogus"})))


def test_slurm_script_has_directives_and_commands(tmp_path: Path) -> None:
    text = slurm_script(SELECTIONS[:2], Path("/scratch/me/laion"), job_name="lf", time="02:00:00",
                        partition="short", cpus_per_task=8, log_dir=Path("/scratch/me/logs"))
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "#SBATCH --job-name=lf" in lines
    assert "#SBATCH --output=/scratch/me/logs/lf-%j.log" in lines
    assert "#SBATCH --partition=short" in lines
    assert "#SBATCH --time=02:00:00" in lines
    assert "#SBATCH --cpus-per-task=8" in lines
    assert "set -euo pipefail" in lines
    assert command_line(SELECTIONS[:2], Path("/scratch/me/laion")).splitlines()[0] in lines
    # every directive comes before the first command, as sbatch requires
    first_command = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    assert all(i < first_command for i, line in enumerate(lines) if line.startswith("#SBATCH"))
    assert "LAION_FMRI_REQUEST_ID" not in text


def test_slurm_script_defaults_are_minimal() -> None:
    text = slurm_script([SELECTIONS[0]], None)
    sbatch = [line for line in text.splitlines() if line.startswith("#SBATCH")]
    assert sbatch == ["#SBATCH --job-name=laion-fmri", "#SBATCH --output=laion-fmri-%j.log"]


def test_slurm_script_explains_the_request_id_without_writing_one(monkeypatch) -> None:
    monkeypatch.setenv("LAION_FMRI_REQUEST_ID", "lfm_secret_value")
    text = slurm_script([Selection(stimuli=True)], Path("/d"))
    assert "LAION_FMRI_REQUEST_ID" in text
    assert "lfm_secret_value" not in text
    assert all(line.startswith("#") for line in text.splitlines() if "LAION_FMRI_REQUEST_ID" in line)


def test_slurm_script_refuses_bad_directives() -> None:
    with pytest.raises(ValueError, match="job-name"):
        slurm_script([SELECTIONS[0]], None, job_name="two words")
    with pytest.raises(ValueError, match="cpus-per-task"):
        slurm_script([SELECTIONS[0]], None, cpus_per_task=0)
    with pytest.raises(ValueError, match="nothing selected"):
        slurm_script([Selection()], None)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_hands_odd_values_over_intact(tmp_path: Path) -> None:
    """Run the line through a real shell with a stand-in program that echoes its argv."""
    sel = Selection(subjects=("sub-01",), filters=Filters.build(desc=["it's", "$(touch pwned)", "a b"]))
    stub = tmp_path / "bin" / "laion-fmri-tui"
    stub.parent.mkdir()
    stub.write_text('#!/bin/bash\nprintf "%s\\n" "$@"\n')
    stub.chmod(0o755)
    result = subprocess.run(["bash", "-c", command_line([sel], tmp_path / "d d")], cwd=tmp_path,
                            capture_output=True, text=True, env={"PATH": f"{stub.parent}:/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert parse(["laion-fmri-tui", *result.stdout.splitlines()]) == sel
    assert not (tmp_path / "pwned").exists()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_slurm_script_is_valid_bash(tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text(slurm_script(SELECTIONS, Path("/data dir/it's"), time="1:00:00",
                                   partition="gpu", cpus_per_task=4, log_dir=tmp_path / "logs"))
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_write_command_file_modes_and_errors(tmp_path: Path) -> None:
    from laion_fmri_tui.core.scripts.command_line import write_command_file
    from laion_fmri_tui.core.errors import LaionFmriError

    text = slurm_script([SELECTIONS[0]], tmp_path)
    script = write_command_file(tmp_path / "job.sh", text, executable=True)
    assert script.read_text() == text
    assert script.stat().st_mode & 0o777 == 0o755
    plain = write_command_file(tmp_path / "cmd.txt", "laion-fmri-tui --batch", executable=False)
    assert plain.read_text() == "laion-fmri-tui --batch\n"
    assert plain.stat().st_mode & 0o777 == 0o644
    with pytest.raises(LaionFmriError, match="folder does not exist"):
        write_command_file(tmp_path / "nope" / "job.sh", text, executable=True)
    with pytest.raises(LaionFmriError, match="is a folder"):
        write_command_file(tmp_path, text, executable=True)
