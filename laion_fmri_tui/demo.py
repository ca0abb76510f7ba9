"""``--demo``: the whole app offline, against servers started in this process.

A local S3 (moto) seeded with the synthetic LAION-fMRI bucket and the
reference access service run on 127.0.0.1; the app gets a temporary data
directory and a temporary cache, so trying the data-use form never touches a
real ``auth.json``. Everything goes when the app exits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from laion_fmri_tui.core.errors import UsageError


@contextlib.contextmanager
def demo_environment(root: Path | None = None) -> Iterator[tuple[str, str, Path]]:
    """Yield (s3 url, access url, data dir) while the demo servers run.

    ``root`` (default: a new temporary folder) holds the data directory and
    the cache; it is removed afterwards.
    """
    try:
        from laion_fmri_tui.devserver.access import AccessService
        from laion_fmri_tui.devserver.s3server import start_seeded
    except ImportError:
        raise UsageError("the demo needs the demo extra: pip install 'laion-fmri-tui[demo]'") from None
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="laion-fmri-demo-"))
    else:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(root / "cache")
    data_dir = root / "data"
    data_dir.mkdir()
    s3 = start_seeded()
    access = AccessService(s3).start()
    try:
        yield s3.url, access.url, data_dir
    finally:
        access.stop()
        s3.stop()
        if saved is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = saved
        shutil.rmtree(root, ignore_errors=True)
