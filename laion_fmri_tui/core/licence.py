"""The CC0 dataset licence and its per-data-directory acceptance marker.

The marker is the dataset package's own: an empty file
``<data_dir>/.laion_fmri/license_accepted``. Either tool's acceptance counts
for the other.
"""

from __future__ import annotations

from pathlib import Path

from laion_fmri_tui.core.disk.datadir import MARKER_DIR, prepare_data_dir
from laion_fmri_tui.core.errors import LicenseNotAcceptedError

LICENCE_TITLE = "LAION-fMRI dataset licence (CC0 1.0 Universal)"

LICENCE_TEXT = """\
The LAION-fMRI data (fMRI derivatives, raw BIDS data, ROIs, anatomical and
FreeSurfer data, stimulus embeddings, segmentations and captions) are
dedicated to the public domain under the Creative Commons CC0 1.0 Universal
public domain dedication.

To the extent possible under law, the dataset authors have waived all
copyright and related or neighbouring rights to this data. You can copy,
modify, distribute and use the data, even for commercial purposes, without
asking permission.

In return, the authors ask you to:
  * cite the LAION-fMRI dataset paper in work that uses the data;
  * not attempt to re-identify the participants who contributed the data;
  * respect that sessions ses-31 to ses-34 are held out for later release.

The stimulus images themselves are NOT covered by this dedication: they are
released under a separate Data Use Agreement, granted by the LAION-fMRI
access service when you request access.

The full legal text of CC0 1.0 is at
https://creativecommons.org/publicdomain/zero/1.0/legalcode
"""


def marker_path(data_dir: Path) -> Path:
    return Path(data_dir) / MARKER_DIR / "license_accepted"


def is_accepted(data_dir: Path) -> bool:
    return marker_path(data_dir).exists()


def accept(data_dir: Path) -> Path:
    """Record acceptance for this data directory (idempotent)."""
    prepare_data_dir(Path(data_dir))
    marker = marker_path(data_dir)
    marker.touch(exist_ok=True)
    return marker


def require_accepted(data_dir: Path) -> None:
    if not is_accepted(data_dir):
        raise LicenseNotAcceptedError(
            f"the CC0 dataset licence is not accepted for {data_dir}: rerun with "
            "--accept-license (or accept it once in the app)"
        )
