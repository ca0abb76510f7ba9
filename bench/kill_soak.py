"""Kill soak: how many bytes a SIGKILL at a random moment costs a resume.

Runs ``laion-fmri-tui --batch`` against the suite's local S3 server (moto, in
this process) for one large multipart object, kills it (SIGKILL) when the
server has sent a random number of bytes of it, again and again, then lets a
last run finish. The server's request log counts every byte it sent; the
bytes sent beyond the object's size are the bytes fetched again.

    .venv/bin/python bench/kill_soak.py --kills 40 --size-mib 128
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from laion_fmri_tui.devserver import synthetic
from laion_fmri_tui.devserver.s3server import LocalS3Server, seed

MIB = 1024 * 1024
KEY = (f"{synthetic.GLM}/sub-05/ses-01/func/"
       "sub-05_ses-01_task-images_space-T1w_stat-effect_desc-Soak_statmap.nii.gz")
SELECTION = ("--subject", "05", "--ses", "01", "--desc", "Soak", "--suffix", "statmap", "--extension", ".nii.gz")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--size-mib", type=int, default=128)
    parser.add_argument("--part-size", default="8M", help="--part-size of each run")
    parser.add_argument("--rate-mib", type=float, default=4, help="server pace per GET, MiB/s")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--between-mib", type=float, nargs=2, default=(1.0, 10.0), metavar=("LOW", "HIGH"),
                        help="each run is killed after the server sent LOW..HIGH MiB of the object")
    args = parser.parse_args()
    size = args.size_mib * MIB
    fill = random.Random(KEY)
    data = b"".join(fill.randbytes(MIB) for _ in range(args.size_mib))
    server = LocalS3Server().start()
    rng = random.Random(args.seed)
    try:
        seed(server, synthetic.build_objects() + [synthetic.SyntheticObject(KEY, data, multipart_part_size=8 * MIB)])
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp)
            (data_dir / ".laion_fmri").mkdir()
            (data_dir / ".laion_fmri" / "license_accepted").touch()
            command = [sys.executable, "-m", "laion_fmri_tui", "--batch", *SELECTION, "--part-size", args.part_size,
                       "--data-dir", str(data_dir), "--endpoint-url", server.url]
            sent, kills, ends = 0, 0, []
            while kills < args.kills:
                server.reset()
                server.throttle(KEY, int(args.rate_mib * MIB))
                proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                stop_at = rng.randint(int(args.between_mib[0] * MIB), int(args.between_mib[1] * MIB))
                while server.bytes_sent(KEY) < stop_at and proc.poll() is None:
                    time.sleep(0.01)
                if proc.poll() is not None:
                    sent += server.bytes_sent(KEY)
                    break
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                ends.append(server.bytes_sent(KEY))
                sent += server.bytes_sent(KEY)
            server.reset()
            last = subprocess.run(command, capture_output=True, text=True)
            sent += server.bytes_sent(KEY)
            good = (data_dir / KEY).read_bytes() == data if last.returncode == 0 else False
    finally:
        server.stop()
    again = sent - size
    killed = sum(ends)
    print(f"{kills} kills of a {args.size_mib} MiB object in parts of {args.part_size}: "
          f"{sent / MIB:.1f} MiB sent for {size / MIB:.0f} MiB, {again / MIB:.2f} MiB fetched again "
          f"({100 * again / max(1, killed):.2f}% of the {killed / MIB:.1f} MiB the killed runs were sent, "
          f"{again / max(1, kills) / 1024:.0f} KiB a kill); "
          f"last run rc {last.returncode}, bytes {'identical' if good else 'WRONG'}")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
