"""Kill soak: how many bytes a SIGKILL at a random moment costs a resume.

Runs ``laion-fmri-tui --batch`` against the suite's local S3 server (moto, in
this process) for one large multipart object, kills it (SIGKILL) when a
random number of the object's bytes has gone out (see ``--between-mib``),
again and again, then lets a last run finish. After each kill the ``.part``
is read for the bytes on disk, and the next runs' Range headers (the
server's request log) say which of them were asked for again (see
:mod:`laion_fmri_tui.devserver.soak`). Printed: bytes fetched again as a
share of the bytes the killed runs brought to disk (issue 21's target: at
most 2%), the bytes the killed runs were sent that never reached the disk
(in their sockets at the kill), and all bytes sent over the object's size.

The path is either paced per GET by the server (``--rate-mib``, each
connection on its own) or a slow link shared by every connection
(``--link-mib``, :class:`~laion_fmri_tui.devserver.shaped_link.ShapedLink`).

    .venv/bin/python bench/kill_soak.py --kills 40 --size-mib 256
    .venv/bin/python bench/kill_soak.py --kills 40 --size-mib 256 --link-mib 5
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
from laion_fmri_tui.core.disk import partfile, tempnames
from laion_fmri_tui.devserver.s3server import LocalS3Server, seed
from laion_fmri_tui.devserver.shaped_link import ShapedLink
from laion_fmri_tui.devserver.soak import Soak, first_byte

MIB = 1024 * 1024
KEY = (f"{synthetic.GLM}/sub-05/ses-01/func/"
       "sub-05_ses-01_task-images_space-T1w_stat-effect_desc-Soak_statmap.nii.gz")
SELECTION = ("--subject", "05", "--ses", "01", "--desc", "Soak", "--suffix", "statmap", "--extension", ".nii.gz")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--part-size", default="8M", help="--part-size of each run")
    parser.add_argument("--rate-mib", type=float, default=4, help="server pace per GET, MiB/s (0: none)")
    parser.add_argument("--link-mib", type=float, default=0,
                        help="a link shared by every connection, MiB/s (0: none)")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--between-mib", type=float, nargs=2, default=(1.0, 10.0), metavar=("LOW", "HIGH"),
                        help="each run is killed after LOW..HIGH MiB more of the object went out")
    args = parser.parse_args()
    size = args.size_mib * MIB
    part = _bytes(args.part_size)
    fill = random.Random(KEY)
    data = b"".join(fill.randbytes(MIB) for _ in range(args.size_mib))
    server = LocalS3Server().start()
    link = None
    rng = random.Random(args.seed)
    soak = Soak(data, part)
    try:
        seed(server, synthetic.build_objects() + [synthetic.SyntheticObject(KEY, data, multipart_part_size=8 * MIB)])
        url = server.url
        if args.link_mib:
            link = ShapedLink(("127.0.0.1", int(url.rsplit(":", 1)[1])), args.link_mib * MIB)
            url = link.url
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp)
            (data_dir / ".laion_fmri").mkdir()
            (data_dir / ".laion_fmri" / "license_accepted").touch()
            dest = data_dir / KEY
            command = [sys.executable, "-m", "laion_fmri_tui", "--batch", *SELECTION, "--part-size", args.part_size,
                       "--data-dir", str(data_dir), "--endpoint-url", url]
            done = False
            while soak.kills < args.kills and not done:
                server.reset()
                if args.rate_mib:
                    server.throttle(KEY, int(args.rate_mib * MIB))
                proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                stop_at = rng.randint(int(args.between_mib[0] * MIB), int(args.between_mib[1] * MIB))
                while server.bytes_sent(KEY) < stop_at and proc.poll() is None:
                    time.sleep(0.01)
                done = proc.poll() is not None
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                soak.run_ended(_gets(server), partfile.part_path(tempnames.current(dest)), killed=not done)
            server.reset()
            last = subprocess.run(command, capture_output=True, text=True)
            soak.run_ended(_gets(server), None, killed=False)
            good = dest.read_bytes() == data if last.returncode == 0 else False
    finally:
        if link is not None:
            link.close()
        server.stop()
    path = f"a link of {args.link_mib:g} MiB/s" if args.link_mib else f"{args.rate_mib:g} MiB/s per GET"
    print(f"{soak.kills} kills of a {args.size_mib} MiB object in parts of {args.part_size} through {path}, "
          f"each after {args.between_mib[0]:g}-{args.between_mib[1]:g} MiB: "
          f"{soak.again / MIB:.2f} MiB fetched again of the {soak.brought / MIB:.1f} MiB the killed runs brought "
          f"to disk ({100 * soak.share:.2f}%, {soak.again / max(1, soak.kills) / 1024:.0f} KiB a kill); "
          f"{soak.in_flight / MIB:.2f} MiB they were sent never reached the disk (in their sockets); "
          f"{soak.sent / MIB:.1f} MiB sent in all for {size / MIB:.0f} MiB "
          f"({100 * (soak.sent - size) / size:.1f}% over); "
          f"last run rc {last.returncode}, bytes {'identical' if good else 'WRONG'}")
    return 0 if good else 1


def _gets(server: LocalS3Server) -> list[tuple[int, int]]:
    return [(first_byte(g.range), g.bytes_sent) for g in server.gets(KEY) if g.status in (200, 206)]


def _bytes(text: str) -> int:
    units = {"K": 1024, "M": MIB, "G": 1024 * MIB}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


if __name__ == "__main__":
    sys.exit(main())
