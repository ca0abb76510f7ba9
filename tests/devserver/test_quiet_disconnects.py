"""The demo's servers say nothing when a client goes away mid-answer.

``q`` mid-transfer in ``--demo`` drops the download's connections; the local
servers run in the app's process, and the stdlib's socketserver printed a
"Connection reset by peer" traceback onto the user's terminal. Here the demo's
own servers (``demo_environment``, as ``--demo`` starts them) run in a child
process whose stderr is the terminal a user would see; clients reset their
connections while the answers are being written.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent('''
    import socket, struct, sys, time, urllib.parse
    from laion_fmri_tui.demo import demo_environment
    from laion_fmri_tui.devserver import synthetic

    def reset_mid_answer(base, path):
        """Ask, read the first bytes of the answer, then reset (what a killed download does)."""
        url = urllib.parse.urlsplit(base)
        sock = socket.create_connection((url.hostname, url.port))
        sock.sendall(f"GET {path} HTTP/1.1\\r\\nHost: {url.netloc}\\r\\n\\r\\n".encode())
        assert sock.recv(64), "an answer started"
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    with demo_environment() as (s3, access, data_dir):
        for _ in range(5):
            reset_mid_answer(s3, f"/{synthetic.BUCKET}/{synthetic.MULTIPART_KEY}")
            reset_mid_answer(access, "/api/v1/no-such-route")
        time.sleep(0.5)  # let the servers' threads finish writing into the reset sockets
    print("servers stopped")
''')


def test_reset_connections_leave_no_traceback_on_the_terminal(tmp_path):
    run = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)}, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "servers stopped"
    assert "Traceback" not in run.stderr and "reset by peer" not in run.stderr
    assert run.stderr == "", run.stderr
