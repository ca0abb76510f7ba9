"""A deterministic, miniature LAION-fMRI bucket.

Every key follows the real bucket's BIDS grammar (docs: UPSTREAM.md §1) so the
planner, filters and held-out rules are exercised exactly as in production,
but the payloads are seeded random bytes (or tiny valid JSON/TSV/CSV/PNG/HDF5)
so the whole bucket is ~25 MB and builds in well under a second. A few
objects are special because tests depend on them: see the constants below.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import random
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

BUCKET = "laion-fmri"
REGION = "us-west-2"
SUBJECTS = ("sub-01", "sub-03", "sub-05", "sub-07")
GLM = "derivatives/glmsingle-tedana"
MIB = 1024 * 1024

MULTIPART_KEY = (f"{GLM}/sub-01/ses-02/func/sub-01_ses-02_task-images_space-T1w_"
                 "stat-effect_desc-SingletrialBetas_statmap.nii.gz")
MULTIPART_SIZE = 11010048  # 10.5 MiB -> parts of 5 + 5 + 0.5 MiB, ETag "<md5>-3"
MULTIPART_PART_SIZE = 5 * MIB  # moto's (and S3's) minimum part size
LARGE_KEY = f"{GLM}/sub-01/ses-01/func/sub-01_ses-01_task-images_space-T1w_desc-GLMsingle_model.h5"
LARGE_SIZE = 4 * MIB  # single PUT, so a plain MD5 ETag
PAGINATED_PREFIX = f"{GLM}/sub-05/ses-01/figures/"
PAGINATED_COUNT = 1050  # > 1,000 so listing needs a continuation token
RUN_FIGURES_PREFIX = f"{GLM}/sub-03/ses-02/figures/"
RUN_FIGURES = 3  # per-run diagnostics named run-0001..: a raw-only --run filter must not drop them
STIMULI_H5_KEY = "stimuli/task-images_stimuli.h5"
STIMULI_CSV_KEY = "stimuli/task-images_metadata.csv"
EMBEDDING_DIMS = {"CLIP": 1024, "DINOv2": 1024, "PEcore": 1024, "SigLIP2": 1152}
ROOT_KEYS = ("dataset_description.json", "participants.tsv", "participants.json", "README")

_SESSIONS = {"sub-01": ("01", "02", "03", "31", "32", "33", "34"),
             "sub-03": ("01", "02", "03", "31", "32"), "sub-05": ("01",)}
_ROIS = {"face": ("FFA-1", "OFA", "pSTS-faces"), "place": ("PPA",), "laion": ("laion-dorsal",)}
_HELD_OUT = re.compile(r"/ses-3[1-4](/|$)")


@dataclass(frozen=True)
class SyntheticObject:
    """One object of the fake bucket and how it must be uploaded."""

    key: str
    data: bytes
    public: bool = True  # False -> uploaded private (anonymous GET gets 403)
    multipart_part_size: int | None = None  # upload with multipart upload in parts of this size


def is_denied(key: str) -> bool:
    """The bucket's embargo: held-out sessions, except released oloc localizer maps."""
    if not _HELD_OUT.search(key):
        return False
    released = key.startswith("derivatives/localizers/") and (
        "task-oloc_" in key or "task-oloc." in key)
    return not released


def _rand(key: str, size: int) -> bytes:
    """Stable bytes per key (str seeds hash with sha512, not PYTHONHASHSEED)."""
    return random.Random(key).randbytes(size)


def _png(seed: str, side: int = 8, noisy: bool = False) -> bytes:
    """A real PNG so previews in the demo don't choke: one colour, or noise
    (incompressible, so the stimulus file is big enough to interrupt)."""
    rgb = _rand("png:" + seed, 3)
    if noisy:
        pixels = _rand("noise:" + seed, side * side * 3)
        raw = b"".join(b"\x00" + pixels[r * side * 3:(r + 1) * side * 3] for r in range(side))
    else:
        raw = b"".join(b"\x00" + rgb * side for _ in range(side))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + tag + body
                + struct.pack(">I", zlib.crc32(tag + body)))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(raw, 1 if noisy else 9)) + chunk(b"IEND", b""))


def _table(rows: list[list[object]], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


# ---- stimuli ---------------------------------------------------------------

def _images() -> list[list[object]]:
    """20 fake images: 8 shared LAION, 2 shared OOD, 2 unique per participant."""
    rows: list[list[object]] = []
    for i in range(8):
        reps = 12 if i < 4 else 4
        rows.append([f"shared_{reps}rep_LAION_cluster_{1000 + i}_i0.png", "LAION", "", "shared", reps])
    rows += [[f"shared_4rep_OOD_{i:03d}.png", "OOD", "", "shared", 4] for i in range(2)]
    for n, sub in enumerate(("sub-01", "sub-03", "sub-05", "sub-06", "sub-07")):
        rows += [[f"unique_LAION_cluster_{2000 + 2 * n + j}_{sub}.png", "LAION", sub, "unique", 1]
                 for j in range(2)]
    return rows


def _h5(fill: Callable[[Any, Any], None]) -> bytes:
    """Build an HDF5 file in memory (no timestamps, so bytes are reproducible)."""
    import h5py  # lazy: only the demo/test paths build HDF5

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        fill(f, h5py)
    return buf.getvalue()


def _stimuli() -> Iterator[tuple[str, bytes, bool]]:
    import numpy as np

    images = _images()
    names = [row[0] for row in images]

    def stimuli_h5(f: Any, h5py: Any) -> None:
        ds = f.create_dataset("images", (len(names),), dtype=h5py.vlen_dtype(np.uint8), track_times=False)
        for i, name in enumerate(names):
            ds[i] = np.frombuffer(_png(name, 224, noisy=True), dtype=np.uint8)

    yield STIMULI_H5_KEY, _h5(stimuli_h5), False
    header = ["image_name", "dataset", "participant", "unique_or_shared", "n_reps"]
    yield STIMULI_CSV_KEY, _table([header, *images]), False
    for model, dim in EMBEDDING_DIMS.items():
        rng = np.random.default_rng(sum(model.encode()) + dim)

        def emb_h5(f: Any, h5py: Any, rng: Any = rng, dim: int = dim) -> None:
            vecs = rng.standard_normal((len(names), dim)).astype(np.float16)
            f.create_dataset("embedding", data=vecs, track_times=False)
            f.create_dataset("image_ids", data=names, dtype=h5py.string_dtype(), track_times=False)
            f.create_dataset("valid", data=np.arange(len(names)) != 7, track_times=False)

        yield f"stimuli/task-images_desc-{model}_embeddings.h5", _h5(emb_h5), True

    def seg_h5(f: Any, h5py: Any) -> None:
        masks = np.zeros((5, 32, 32), dtype=np.uint8)
        for i in range(5):
            masks[i, 4 * i:4 * i + 12, 8:20] = 1
        f.create_dataset("masks", data=masks, compression="gzip", shuffle=True, track_times=False)

    yield "stimuli/task-images_desc-segmentations.h5", _h5(seg_h5), True
    seg = [["mask_row", "image_name", "noun", "instance_id", "score", "box_x0", "box_y0",
            "box_x1", "box_y1", "localized", "mask_file"]]
    for i, noun in enumerate(("dog", "car", "tree", "cup", "chair")):
        seg.append([i, names[i], noun, 0, 0.9, 8, 4 * i, 20, 4 * i + 12, 1, f"masks/{i:05d}.png"])
    yield "stimuli/task-images_desc-segmentations_metadata.csv", _table(seg), True
    caps = [["image_name", "caption_idx", "source", "caption", "origin_collection",
             "participant_id", "ai_model"]]
    for name, dataset, _, kind, _ in images:
        for idx in range(1, 6 if kind == "shared" else 4):
            caps.append([name, idx, "human", f"a picture ({idx}) of {name}", "main1", f"p{idx:03d}", ""])
        if kind == "shared" and dataset != "OOD":
            caps.append([name, 0, "ai", f"An image showing {name}.", "gpt-5.1", "", "gpt-5.1"])
    yield "stimuli/task-images_desc-captions.csv", _table(caps), True


# ---- fMRI trees (keys only; payloads come from _payload) -------------------

def _glm_keys() -> Iterator[str]:
    maps = ("stat-effect_desc-SingletrialBetas_statmap", "stat-rsquare_desc-R2_statmap",
            "desc-Noiseceiling_statmap", "desc-HRFindex_dseg", "desc-Fracridge_statmap")
    for sub, sessions in _SESSIONS.items():
        stem = f"{GLM}/{sub}/{sub}_task-images"
        yield f"{stem}_desc-GLMsingle_summary.json"
        for m in ("desc-Noiseceiling4rep_statmap", "desc-Noiseceiling12rep_statmap",
                  "desc-NoiseceilingAllrep_statmap", "stat-rsquare_desc-R2mean_statmap"):
            yield from (f"{stem}_space-T1w_{m}.nii.gz", f"{stem}_space-T1w_{m}.json")
        for s in sessions:
            d, ses = f"{GLM}/{sub}/ses-{s}", f"{sub}_ses-{s}"
            f = f"{d}/func/{ses}_task-images"
            yield from (f"{f}_desc-GLMsingle_summary.json", f"{f}_desc-SingletrialBetas_trials.tsv",
                        f"{f}_desc-SingletrialBetas_trials.json", f"{f}_space-T1w_desc-GLMsingle_model.h5",
                        f"{f}_space-T1w_desc-GLMsingle_model.json")
            for m in maps:
                yield from (f"{f}_space-T1w_{m}.nii.gz", f"{f}_space-T1w_{m}.json")
            if f"{d}/figures/" == PAGINATED_PREFIX:
                yield from (f"{d}/figures/fig-{i:04d}.png" for i in range(PAGINATED_COUNT))
            else:
                yield f"{d}/figures/{ses}_task-images_desc-R2_figure.png"
            if f"{d}/figures/" == RUN_FIGURES_PREFIX:
                yield from (f"{d}/figures/{ses}_task-images_run-{r:04d}_desc-R2run_figure.png"
                            for r in range(1, RUN_FIGURES + 1))


def _other_keys() -> Iterator[str]:
    for sub in ("sub-01", "sub-03"):
        for cat, rois in _ROIS.items():
            for roi in rois:
                p = f"derivatives/rois/{sub}/{cat}/{sub}"
                yield f"{p}_space-T1w_res-1pt8_label-{roi}_mask.nii.gz"
                yield f"{p}_space-T1w_res-1pt5_label-{roi}_mask.nii.gz"
                for h in "LR":
                    yield f"{p}_hemi-{h}_space-fsnative_label-{roi}_mask.func.gii"
                    yield f"{p}_hemi-{h}_space-fsnative_label-{roi}_mask.label"
    fs = "derivatives/freesurfer/sub-01"
    yield from (f"{fs}/mri/{n}" for n in ("brain.mgz", "T1.mgz", "aparc+aseg.mgz",
                                           "transforms/talairach.lta", "transforms/talairach.xfm"))
    yield from (f"{fs}/surf/{h}.{n}" for n in ("white", "pial") for h in ("lh", "rh"))
    an = "derivatives/anatomical/sub-01/ses-PrismaAnat/anat/sub-01_ses-PrismaAnat_space-T1w"
    yield from (f"{an}_{n}.nii.gz" for n in ("T1w", "res-1pt8_T1w", "T2w", "desc-brain_mask",
                                              "res-1pt8_desc-brain_mask"))
    lo = "derivatives/localizers/sub-01"
    floc = f"{lo}/ses-4BarScreenfLoc/func/sub-01_ses-4BarScreenfLoc_task-floc"
    yield from (f"{floc}_hemi-{h}_space-fsnative_contrast-faceVsOthers_stat-z_statmap.func.gii" for h in "LR")
    yield f"{floc}_space-T1w_res-1pt5_contrast-faceVsOthers_stat-z_statmap.nii.gz"
    yield f"{floc}_run-01_space-T1w_res-1pt5_contrast-body_stat-effect_statmap.nii.gz"
    yield (f"{lo}/ses-MotionLocBarsSML/func/sub-01_ses-MotionLocBarsSML_task-MotionLoc_"
           "space-T1w_res-1pt5_contrast-motionVsStatic_stat-z_statmap.nii.gz")
    s31 = f"{lo}/ses-31/func/sub-01_ses-31_task-"
    objects_z = "space-T1w_res-1pt5_contrast-objects_stat-z_statmap"
    yield from (f"{s31}oloc_{objects_z}.nii.gz", f"{s31}oloc_{objects_z}.json")  # released
    yield f"{s31}images_{objects_z}.nii.gz"  # held out
    raw = "sub-01/ses-01"
    for run in ("01", "02"):
        for echo in "12":
            for part in ("mag", "phase"):
                b = f"{raw}/func/sub-01_ses-01_task-images_run-{run}_echo-{echo}_part-{part}_bold"
                yield from (f"{b}.nii.gz", f"{b}.json")
        yield f"{raw}/func/sub-01_ses-01_task-images_run-{run}_events.tsv"
    yield f"{raw}/func/sub-01_ses-01_task-images_run-01_echo-1_part-mag_sbref.nii.gz"
    yield from (f"{raw}/fmap/sub-01_ses-01_run-01_{n}" for n in
                ("magnitude1.nii.gz", "phasediff.nii.gz", "phasediff.json"))
    yield f"{raw}/anat/sub-01_ses-01_MEGRE.nii.gz"
    yield "sub-01/ses-31/func/sub-01_ses-31_task-oloc_run-01_echo-1_part-mag_bold.nii.gz"
    yield "sub-07/ses-01/func/sub-07_ses-01_task-images_run-01_events.tsv"
    yield "derivatives/tedana/sub-01/ses-01/func/sub-01_ses-01_task-images_desc-optcom_bold.nii.gz"
    yield "derivatives/tedana/sub-01/ses-31/func/sub-01_ses-31_task-oloc_desc-optcom_bold.nii.gz"


def _payload(key: str) -> bytes:
    """Plausible content for a key: text formats are valid, binaries are noise."""
    name = key.rsplit("/", 1)[-1]
    if key == MULTIPART_KEY:
        return _rand(key, MULTIPART_SIZE)
    if name.endswith("_model.h5"):
        return _glm_model_h5(key, LARGE_SIZE if key == LARGE_KEY else _noise_size(key))
    if name.endswith(".png"):
        return _png(key)
    if name.endswith(".json"):
        doc = {"Description": f"Synthetic sidecar for {name}",
               "GeneratedBy": [{"Name": "laion-fmri-tui devserver"}]}
        return (json.dumps(doc, indent=2) + "\n").encode()
    if name.endswith("_trials.tsv"):
        ses, labels = name.split("_")[1], [row[0] for row in _images()]
        return _table([["session", "run", "beta_index", "label"]]
                      + [[ses, 1 + i // 5, i, labels[i % len(labels)]] for i in range(10)], "\t")
    if name.endswith("_events.tsv"):
        return _table([["onset", "duration", "trial_type"]]
                      + [[4.0 * i, 3.0, "image"] for i in range(8)], "\t")
    return _rand(key, _noise_size(key))


def _noise_size(key: str) -> int:
    return random.Random("size:" + key).randint(1024, 64 * 1024)


def _glm_model_h5(key: str, size: int) -> bytes:
    """A real HDF5 file of exactly ``size`` bytes, shaped like GLMsingle's model
    output, so ``i`` (the HDF5 preview) works on it in ``--demo``: small
    ``betasmd`` and ``R2`` arrays, and an ``HRFindex`` whose length takes up the
    rest (contiguous storage: the file grows by one byte per element). The sizes
    are those of the noise these files held before, so listings stay the same."""
    import h5py  # lazy, as in _h5
    import numpy as np

    rng = np.random.default_rng(list(key.encode()))
    betas = rng.standard_normal((4, 6)).astype(np.float32)
    r2 = rng.uniform(0, 60, 4).astype(np.float32)

    def build(n: int) -> bytes:
        buf = io.BytesIO()  # libver="latest": compact headers, so even a 2 kB file holds all three
        with h5py.File(buf, "w", libver="latest") as f:
            f.create_dataset("betasmd", data=betas, track_times=False)
            f.create_dataset("R2", data=r2, track_times=False)
            # seeded per key (a fresh generator per build): the same n gives the same bytes;
            # random, not periodic, so a resume at a wrong offset cannot pass as the same bytes
            hrf = np.random.default_rng(list(key.encode())).integers(0, 20, n, dtype=np.uint8)
            f.create_dataset("HRFindex", data=hrf, track_times=False)
        return buf.getvalue()

    n = 1
    data = build(n)
    for _ in range(3):  # the metadata does not depend on n: one correction is exact
        if len(data) == size:
            break
        n += size - len(data)
        data = build(n)
    if len(data) != size:
        raise AssertionError(f"{key}: built {len(data)} bytes, not {size}")
    return data


def _root() -> Iterator[tuple[str, bytes]]:
    desc = {"Name": "LAION-fMRI (synthetic local test bucket)", "BIDSVersion": "1.9.0",
            "DatasetType": "raw", "License": "CC0", "Authors": ["laion-fmri-tui devserver"]}
    yield "dataset_description.json", (json.dumps(desc, indent=2) + "\n").encode()
    yield "participants.tsv", _table([["participant_id", "n_sessions"], *[[s, 30] for s in SUBJECTS]], "\t")
    sidecar = {"participant_id": {"Description": "Participant label"},
               "n_sessions": {"Description": "Number of main image-viewing sessions"}}
    yield "participants.json", (json.dumps(sidecar, indent=2) + "\n").encode()
    yield "README", b"Synthetic LAION-fMRI bucket for tests and the offline demo.\n"


@functools.cache
def _build() -> tuple[SyntheticObject, ...]:
    objects = [SyntheticObject(k, d) for k, d in _root()]
    objects += [SyntheticObject(k, d, public) for k, d, public in _stimuli()]
    for key in (*_glm_keys(), *_other_keys()):
        part = MULTIPART_PART_SIZE if key == MULTIPART_KEY else None
        objects.append(SyntheticObject(key, _payload(key), not is_denied(key), part))
    return tuple(sorted(objects, key=lambda o: o.key))


def build_objects() -> list[SyntheticObject]:
    """Every object of the synthetic bucket, sorted by key (built once, cached)."""
    return list(_build())


def denied_keys(objects: list[SyntheticObject] | None = None) -> list[str]:
    """Keys the bucket policy must deny (held out and not released)."""
    return [o.key for o in (objects or build_objects()) if is_denied(o.key)]
