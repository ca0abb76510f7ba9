"""What the app is pointed at; built by the CLI (or by tests) and injected.

The App never builds clients itself: it asks the context for the one
:class:`~laion_fmri_tui.core.service.DownloadService`, which tests point at
their loopback servers and ``--demo`` at in-process ones.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

from laion_fmri_tui.core.service import DownloadService
from laion_fmri_tui.core.settings import EngineSettings, S3Settings, ServiceSettings


@dataclass
class AppContext:
    """Settings for one app session: the service's (S3, engine, access
    service; their meaning: :class:`~laion_fmri_tui.core.settings.ServiceSettings`)
    and the app's own.

    The app changes some of them as the session goes (the data directory from
    the first-run screen, the bandwidth cap from ``w``), which is why this is
    not the frozen ``ServiceSettings`` itself: :meth:`service` makes one from
    these fields, and a new service when the data directory changes."""

    data_dir: Path | None = None
    """None until the first-run screen (or the config) provides one."""
    s3: S3Settings = field(default_factory=S3Settings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    access_url: str | None = None
    demo: bool = False
    """Running against in-process servers with synthetic data."""
    disk_free: Callable[[Path], int] = field(default=lambda path: shutil.disk_usage(path).free, repr=False)
    """Free bytes at a path (injectable, so pictures of the summary are reproducible)."""
    program: tuple[str, ...] = (sys.executable, "-m", "laion_fmri_tui")
    """How the shown batch command and SLURM script call this program: the
    absolute path of the running console script when there is one (see
    ``cli``), else this interpreter; never a bare name that needs PATH."""
    _service: DownloadService | None = field(default=None, repr=False)

    def service(self) -> DownloadService:
        """The one service of this session (made on first use, once the data dir is known)."""
        if self.data_dir is None:
            raise RuntimeError("no data directory yet")
        if self._service is None or self._service.data_dir != self.data_dir:
            # every field of ServiceSettings, by name: one it gains and this lacks fails at once
            self._service = DownloadService(ServiceSettings(
                **{f.name: getattr(self, f.name) for f in dataclasses.fields(ServiceSettings)}))
        return self._service
