"""Build hook: compile the optional SIMD MD5 extension (``_md5lanes.c``).

Verification works without it (hashlib, one stream at a time), so a machine
without a C compiler still installs; the hook then says so and goes on.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("laion_fmri_tui/core/integrity/_md5lanes.c")


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel":
            return
        name = "_md5lanes" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")
        root = Path(self.root)
        if version == "editable":  # the package is imported from the checkout
            output = root / SOURCE.with_name(name)
            output.unlink(missing_ok=True)  # never keep an older build when this one fails
        else:
            self._scratch = tempfile.mkdtemp(prefix="md5lanes-")
            output = Path(self._scratch) / name
        if not _compile(root / SOURCE, output):
            return
        if version != "editable":
            build_data["force_include"][str(output)] = str(SOURCE.with_name(name))
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict, artifact_path: str) -> None:
        scratch = getattr(self, "_scratch", None)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _compile(source: Path, output: Path) -> bool:
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")
    include = sysconfig.get_paths()["include"]
    command = [*compiler, "-O2", "-shared", "-fPIC", f"-I{include}", str(source), "-o", str(output)]
    if sys.platform == "darwin":  # Python's symbols come from the interpreter at load time
        command[1:1] = ["-undefined", "dynamic_lookup"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as error:
        print(f"laion-fmri-tui: no C compiler ({error}); MD5 checks use hashlib", file=sys.stderr)
        return False
    if done.returncode != 0:
        print(f"laion-fmri-tui: the SIMD MD5 extension did not build; MD5 checks use hashlib\n{done.stderr}",
              file=sys.stderr)
        return False
    return True
