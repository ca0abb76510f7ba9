"""Under --max-bandwidth the reported rate stays near the cap from the first second.

The engine's own figure is checked (the ``rate`` of each ``--json`` progress
event), not a stopwatch of the test's: a busy machine only makes it lower.
The bucket is charged after each read, and the lanes read 256 KiB at a time,
so the first read under a 20k cap was many seconds' worth and the rate over
the first short window several times the cap.
"""

from __future__ import annotations

import json
import subprocess

from batchtools import batch_command, batch_env

CAP = 20_000


def test_the_rate_never_runs_far_above_the_cap(s3, licensed_data_dir):
    command = batch_command("--only", "glmsingle", "--subject", "01", "--ses", "01", "--desc", "GLMsingle",
                            "--suffix", "model", "--max-bandwidth", str(CAP), "--json",
                            "--data-dir", str(licensed_data_dir), "--endpoint-url", s3.url)
    rates: list[float] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          stdin=subprocess.DEVNULL, env=batch_env()) as run:
        try:
            for line in run.stdout:
                event = json.loads(line)
                if event["event"] == "progress" and event["bytes_fetched"]:
                    rates.append(event["rate"])
                    if event["bytes_fetched"] >= 3 * CAP and len(rates) >= 4:
                        break
        finally:
            run.kill()
    assert rates, "no progress with bytes fetched"
    assert max(rates) <= 1.5 * CAP, rates
