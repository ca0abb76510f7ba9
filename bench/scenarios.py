"""The benchmark's data sets: LAION-fMRI-shaped buckets written into a folder.

Each scenario is one bucket folder (``<root>/<scenario>/laion-fmri/...``) that
``rclone serve s3`` serves as is. Every contender copies the whole bucket, and
``laion-fmri-tui --batch`` is given the selection flags that plan exactly the
same keys (checked before a run counts), so all tools move the same bytes.

Contents are deterministic (a seeded random block, sliced at a per-key offset
and prefixed by the key), so a rebuilt data set is byte-identical and its MD5s
can be cached beside it.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB
BUCKET = "laion-fmri"
SUBJECTS = ("01", "03", "05", "06", "07")
GLM = "derivatives/glmsingle-tedana"
DATASET_FILES = (("dataset_description.json", 2 * KIB), ("participants.tsv", 1 * KIB),
                 ("participants.json", 1 * KIB), ("README", 4 * KIB))
SMALL_SESSION_FILES = (
    "task-images_desc-GLMsingle_summary.json",
    "task-images_desc-SingletrialBetas_trials.tsv",
    "task-images_desc-SingletrialBetas_trials.json",
    "task-images_space-T1w_desc-GLMsingle_model.json",
    "task-images_space-T1w_stat-effect_desc-SingletrialBetas_statmap.json",
    "task-images_space-T1w_stat-rsquare_desc-R2_statmap.json",
    "task-images_space-T1w_desc-Noiseceiling_statmap.json",
    "task-images_space-T1w_desc-HRFindex_dseg.json",
    "task-images_space-T1w_desc-Fracridge_statmap.json",
    "task-images_space-T1w_stat-rsquare_desc-R2_statmap.nii.gz",
    "task-images_space-T1w_desc-Noiseceiling_statmap.nii.gz",
    "task-images_space-T1w_desc-HRFindex_dseg.nii.gz",
)
ROI_CATEGORIES = ("face", "place", "laion", "retinotopy")


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    files: tuple[tuple[str, int], ...]
    """(key, size) of every object in the bucket."""
    batch_args: tuple[str, ...]
    """Selection flags for ``laion-fmri-tui --batch`` that plan exactly ``files``."""

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def _betas(sub: str, ses: int) -> str:
    s = f"sub-{sub}_ses-{ses:02d}"
    return f"{GLM}/sub-{sub}/ses-{ses:02d}/func/{s}_task-images_space-T1w_stat-effect_desc-SingletrialBetas_statmap.nii.gz"


def _session_small(sub: str, ses: int) -> list[str]:
    s = f"sub-{sub}_ses-{ses:02d}"
    return [f"{GLM}/sub-{sub}/ses-{ses:02d}/func/{s}_{name}" for name in SMALL_SESSION_FILES]


def _roi(sub: str, category: str, n: int, variant: int) -> str:
    kind = ("space-T1w_res-1pt8", "space-T1w_res-1pt5", "hemi-L_space-fsnative", "hemi-R_space-fsnative")[variant % 4]
    ext = "mask.nii.gz" if variant % 4 < 2 else "mask.func.gii"
    return f"derivatives/rois/sub-{sub}/{category}/sub-{sub}_{kind}_label-{category}{n:03d}_{ext}"


def _small_size(rng: random.Random) -> int:
    """4-256 KiB, log-uniform: many small sidecars, fewer large masks."""
    return int(4 * KIB * (64 ** rng.random()))


def large(scale: float) -> Scenario:
    size = max(64 * MIB, int(512 * MIB * scale))
    files = [(_betas("01", ses), size) for ses in range(1, 5)]
    return Scenario("large", f"4 objects of {size // MIB} MiB (a session's betas each)",
                    _with_dataset(files), ("--subject", "01"))


def small(scale: float) -> Scenario:
    rng = random.Random(2)
    target = max(100, int(2000 * scale))
    per_subject = -(-target // len(SUBJECTS))
    keys: list[str] = []
    for sub in SUBJECTS:
        mine = [key for ses in range(1, 31) for key in _session_small(sub, ses)[:9]][:per_subject]
        mine += [_roi(sub, ROI_CATEGORIES[i % 4], i, i) for i in range(per_subject - len(mine))]
        keys += mine
    files = [(key, _small_size(rng)) for key in keys[:target]]
    return Scenario("small", f"{target} objects of 4-256 KiB (sidecars, TSVs, ROI masks)",
                    _with_dataset(files), ("--subject", "all"))


def subject(scale: float) -> Scenario:
    rng = random.Random(3)
    betas = max(8 * MIB, int(64 * MIB * scale))
    files: list[tuple[str, int]] = []
    for ses in range(1, 31):
        files.append((_betas("01", ses), betas))
        for key in _session_small("01", ses):
            medium = key.endswith(".nii.gz")
            files.append((key, rng.randint(1 * MIB, 4 * MIB) if medium else _small_size(rng)))
    files += [(_roi("01", ROI_CATEGORIES[i % 4], i, i), _small_size(rng)) for i in range(80)]
    return Scenario("subject", f"one subject: 30 sessions of a {betas // MIB} MiB betas file and 12 "
                    "small files each, plus 80 ROI masks", _with_dataset(files), ("--subject", "01"))


def listing(scale: float) -> Scenario:
    per_subject = max(1000, int(20000 * scale))
    rois = per_subject // 10
    per_session = (per_subject - rois) // 30
    files: list[tuple[str, int]] = []
    for sub in SUBJECTS:
        for ses in range(1, 31):
            base = f"{GLM}/sub-{sub}/ses-{ses:02d}/func/sub-{sub}_ses-{ses:02d}_task-images"
            files += [(f"{base}_run-{n:03d}_desc-Trial_statmap.json", 0) for n in range(per_session)]
        files += [(_roi(sub, ROI_CATEGORIES[i % 4], i, i), 0) for i in range(rois)]
    assert len({k for k, _ in files}) == len(files)
    return Scenario("listing", f"{len(files):,} keys over 5 subjects (plan only)",
                    _with_dataset(files), ("--subject", "all"))


SCENARIOS = {"large": large, "small": small, "subject": subject, "listing": listing}


def _with_dataset(files: list[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    return tuple(list(DATASET_FILES) + files)


class Block:
    """A seeded random block; a file's bytes are a key header plus a slice of it."""

    def __init__(self, size: int = 64 * MIB) -> None:
        self.data = random.Random(1).randbytes(size)

    def content(self, key: str, size: int):
        """Yield the bytes of ``key`` in pieces (at most one block each)."""
        header = (key.encode() + b"\n")[:size]
        yield header
        remaining = size - len(header)
        offset = int(hashlib.md5(key.encode()).hexdigest()[:8], 16) % len(self.data)
        while remaining:
            piece = self.data[offset:offset + remaining]
            yield piece
            remaining -= len(piece)
            offset = 0


UPLOAD_PART = 8 * MIB
"""``aws s3 cp``/``sync`` upload in parts of 8 MiB above 8 MiB (its defaults);
real S3 then gives such an object a multipart ETag, ``<md5 of part md5s>-<parts>``."""


def build(root: Path, scenario: Scenario, block: Block | None = None) -> dict[str, str]:
    """Write the bucket folder (unless already complete); return key -> MD5."""
    return _manifest(root, scenario, block)["md5"]


def etags(root: Path, scenario: Scenario, style: str) -> dict[str, str]:
    """key -> the ETag S3 would give it: ``md5`` (every object one PUT) or
    ``aws-cli`` (uploaded by ``aws s3 cp``: multipart above 8 MiB)."""
    manifest = _manifest(root, scenario, None)
    return manifest["md5"] if style == "md5" else manifest["aws_etag"]


def _manifest(root: Path, scenario: Scenario, block: Block | None) -> dict:
    folder = root / scenario.name
    stamp = root / f"{scenario.name}.manifest.json"
    wanted = [list(f) for f in scenario.files]
    if stamp.exists():
        saved = json.loads(stamp.read_text())
        if saved["files"] == wanted and "aws_etag" in saved:
            return saved
    shutil.rmtree(folder, ignore_errors=True)
    block = block or Block()
    md5s: dict[str, str] = {}
    multipart: dict[str, str] = {}
    for key, size in scenario.files:
        path = folder / BUCKET / key
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.md5()
        with open(path, "wb") as out:
            for piece in block.content(key, size):
                out.write(piece)
                digest.update(piece)
        md5s[key] = digest.hexdigest()
        multipart[key] = md5s[key] if size <= UPLOAD_PART else _multipart_etag(path)
    manifest = {"files": wanted, "md5": md5s, "aws_etag": multipart}
    stamp.write_text(json.dumps(manifest))
    return manifest


def _multipart_etag(path: Path) -> str:
    parts = []
    with open(path, "rb") as handle:
        while piece := handle.read(UPLOAD_PART):
            parts.append(hashlib.md5(piece).digest())
    return f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}"


def bucket_dir(root: Path, scenario: Scenario) -> Path:
    """The folder rclone serves for this scenario (its one bucket inside)."""
    return root / scenario.name

