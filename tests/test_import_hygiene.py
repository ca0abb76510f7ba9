"""The service layer and --batch must never pull in Textual, nor load what they do not use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_layering_contracts_hold() -> None:
    """import-linter checks the contracts in pyproject.toml ([tool.importlinter]) over every
    module, function-level imports included: core and --batch never import Textual, core
    never imports a front end, no import cycles. The tests below run the entry points
    (which a static check cannot) to see what they load."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache", str(REPO / "pyproject.toml")],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_batch_run_does_not_import_textual(tmp_path) -> None:
    """Running the batch entry point (not just importing it) stays Textual-free."""
    code = (
        "import sys\n"
        "from laion_fmri_tui.cli import main\n"
        "try:\n"
        "    main(['--batch', '--subject', 'bad id!', '--data-dir', sys.argv[1]])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert result.stdout.strip() == ""
    assert "malformed subject" in result.stderr


def test_config_and_info_commands_do_not_import_textual(tmp_path, s3) -> None:
    """The headless commands besides --batch, run (not just imported)."""
    code = (
        "import sys\n"
        "from laion_fmri_tui.cli import main\n"
        "codes = [main(['config', '--data-dir', sys.argv[1]]),\n"
        "         main(['info', '--subject', '01', '--endpoint-url', sys.argv[2]])]\n"
        "print(codes, ','.join(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path), s3.url], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "[0, 0]", result.stdout + result.stderr


def test_a_download_loads_neither_botocore_nor_httpx(tmp_path, s3) -> None:
    """Object GETs and listings are plain HTTP (botocore cost 0.3 s to load and
    1-2 ms of CPU a request, urllib3 40-50 ms to load); httpx is for the access
    service, so only stimuli load it."""
    code = (
        "import sys\n"
        "from laion_fmri_tui.cli import main\n"
        "code = main(['--batch', '--subject', '01', '--ses', '01', '--accept-license',\n"
        "             '--data-dir', sys.argv[1], '--endpoint-url', sys.argv[2]])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'botocore', 'boto3', 'httpx', 'textual', 'urllib3'})\n"
        "print(code, ','.join(heavy))\n"
    )
    (tmp_path / "data").mkdir()
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "data"), s3.url],
                            capture_output=True, text=True)
    exit_code, _, heavy = result.stdout.strip().splitlines()[-1].partition(" ")
    assert exit_code == "0", result.stdout + result.stderr
    assert heavy == "", f"a plain download loaded {heavy}"
    assert any((tmp_path / "data" / "derivatives").rglob("*.nii.gz"))


def test_batch_runner_leaves_the_engine_to_load_during_the_first_listings() -> None:
    """--batch starts the plan's listings, then loads the engine and the printer
    while they are in flight: importing the runner must not load them first."""
    code = (
        "import sys\n"
        "import laion_fmri_tui.batch.runner\n"
        "late = ['laion_fmri_tui.core.transfer.engine', 'laion_fmri_tui.batch.output',\n"
        "        'laion_fmri_tui.core.run.engine_process', 'laion_fmri_tui.core.integrity.checkup']\n"
        "print(','.join(m for m in late if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"loaded before the listings start: {result.stdout.strip()}"
