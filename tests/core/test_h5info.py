"""HDF5 summaries, on the synthetic bucket's real embeddings and masks files."""

from __future__ import annotations

from pathlib import Path

import pytest

from laion_fmri_tui.core.h5info import (
    DatasetInfo, H5InfoError, describe, is_embeddings, preview_rows,
)
from laion_fmri_tui.devserver import synthetic

CLIP_KEY = "stimuli/task-images_desc-CLIP_embeddings.h5"
SIGLIP_KEY = "stimuli/task-images_desc-SigLIP2_embeddings.h5"
SEG_KEY = "stimuli/task-images_desc-segmentations.h5"


def write(tmp_path: Path, key: str) -> Path:
    data = next(o.data for o in synthetic.build_objects() if o.key == key)
    path = tmp_path / Path(key).name
    path.write_bytes(data)
    return path


def test_describe_embeddings(tmp_path: Path) -> None:
    infos = describe(write(tmp_path, CLIP_KEY))
    assert [d.name for d in infos] == ["embedding", "image_ids", "valid"]
    by_name = {d.name: d for d in infos}
    assert by_name["embedding"] == DatasetInfo("embedding", (20, 1024), "float16", 20 * 1024 * 2)
    assert by_name["image_ids"].dtype == "string"
    assert by_name["image_ids"].size_bytes is None
    assert by_name["valid"] == DatasetInfo("valid", (20,), "bool", 20)
    assert is_embeddings(infos)


def test_describe_walks_groups_and_vlen(tmp_path: Path) -> None:
    import h5py
    import numpy as np

    path = tmp_path / "nested.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("b/inner/x", data=np.zeros((2, 3), dtype="int32"))
        f.create_dataset("a", data=np.arange(4))
        blobs = f.create_dataset("images", (2,), dtype=h5py.vlen_dtype(np.uint8))
        blobs[0] = np.frombuffer(b"abc", dtype=np.uint8)
        f.create_dataset("fixed", data=np.array([b"ab", b"cd"], dtype="S2"))
    infos = {d.name: d for d in describe(path)}
    assert set(infos) == {"a", "b/inner/x", "images", "fixed"}
    assert infos["b/inner/x"].shape == (2, 3) and infos["b/inner/x"].size_bytes == 24
    assert infos["images"].dtype == "vlen uint8" and infos["images"].size_bytes is None
    assert infos["fixed"].dtype == "string[2]"
    assert not is_embeddings(list(infos.values()))
    assert preview_rows(path) == []


def test_preview_rows_match_the_file(tmp_path: Path) -> None:
    import h5py

    path = write(tmp_path, SIGLIP_KEY)
    rows = preview_rows(path, n=8, columns=4, digits=2)
    with h5py.File(path, "r") as f:
        first = f["embedding"][0].astype(float)
        names = [x.decode() for x in f["image_ids"][:8]]
    assert [r.index for r in rows] == list(range(8))
    assert [r.image_id for r in rows] == names
    assert rows[0].image_id == "shared_12rep_LAION_cluster_1000_i0.png"
    assert [r.valid for r in rows] == [True] * 7 + [False]  # the synthetic file marks row 7 invalid
    assert rows[0].values == tuple(round(float(v), 2) for v in first[:4])
    assert rows[0].norm == pytest.approx(float((first ** 2).sum() ** 0.5), abs=0.01)


def test_preview_is_capped_by_the_file(tmp_path: Path) -> None:
    assert len(preview_rows(write(tmp_path, CLIP_KEY), n=100)) == 20
    assert preview_rows(write(tmp_path, CLIP_KEY), n=0) == []


def test_segmentations_have_no_rows(tmp_path: Path) -> None:
    path = write(tmp_path, SEG_KEY)
    assert [(d.name, d.shape, d.dtype) for d in describe(path)] == [("masks", (5, 32, 32), "uint8")]
    assert preview_rows(path) == []


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.h5", "no such file"),
    (lambda p: p, "is a folder"),
    (lambda p: (p / "x.h5").write_text("not hdf5 at all") and p / "x.h5", "not an HDF5 file"),
])
def test_errors_are_one_line(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(H5InfoError, match=message) as info:
        describe(make(tmp_path))
    assert "\n" not in str(info.value)


def test_truncated_download_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, CLIP_KEY)
    path.write_bytes(path.read_bytes()[: 4096])
    with pytest.raises(H5InfoError) as info:
        describe(path)
    assert "\n" not in str(info.value)
    assert path.name in str(info.value)
