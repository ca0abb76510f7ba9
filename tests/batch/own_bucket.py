"""A moto S3 server of its own, in a child process, holding the synthetic
bucket plus extra objects (keys the session's server must not show to the
other tests: two keys that map to one local path, keys with control
characters, one large multipart object). moto keeps its buckets per process,
hence the child.

:func:`own_bucket` adds small text objects; :func:`one_object_bucket` adds
one random multipart object and answers two asks over the child's stdin:
``log`` (the object's GETs since the last ask) and ``flip`` (the object's
next GET arrives with its first byte flipped)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from batchtools import batch_env

from laion_fmri_tui.devserver.soak import first_byte

_SERVE = """
import json, sys
from laion_fmri_tui.devserver import synthetic
from laion_fmri_tui.devserver.s3server import LocalS3Server, seed
extra = [synthetic.SyntheticObject(k, v.encode()) for k, v in json.loads(sys.stdin.readline()).items()]
server = LocalS3Server().start()
seed(server, synthetic.build_objects() + extra)
print(server.url, flush=True)
sys.stdin.read()
server.stop()
"""


@contextmanager
def child_server(script: str, request: dict) -> Iterator[subprocess.Popen]:
    """A Python child running ``script``, ``request`` sent as its first line of
    stdin; it stops when its stdin closes (waited for, killed if it hangs)."""
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, env=batch_env())
    try:
        assert child.stdin is not None
        child.stdin.write(json.dumps(request) + "\n")
        child.stdin.flush()
        yield child
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextmanager
def own_bucket(extra: dict[str, str]) -> Iterator[str]:
    """The URL of a local S3 server holding the synthetic bucket and ``extra`` (key -> text)."""
    with child_server(_SERVE, extra) as child:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), "the child S3 server did not start"
        yield url


_SERVE_ONE = """
import json, random, sys
from laion_fmri_tui.devserver import synthetic
from laion_fmri_tui.devserver.s3server import LocalS3Server, seed
ask = json.loads(sys.stdin.readline())
data = random.Random(ask["key"]).randbytes(ask["size"])
server = LocalS3Server().start()
seed(server, synthetic.build_objects() + [synthetic.SyntheticObject(ask["key"], data,
                                                                   multipart_part_size=ask["part_size"])])
print(server.url, flush=True)
for line in sys.stdin:
    if line.strip() == "flip":
        server.fail_next(ask["key"], 1, "flip")
        print("armed", flush=True)
    else:  # "log": the object's GETs since the last ask, then forget them
        gets = [[g.range, g.bytes_sent] for g in server.gets(ask["key"])]
        server.clear_log()
        print(json.dumps(gets), flush=True)
server.stop()
"""


class ChildBucket:
    """A child server of :func:`child_server` that prints its URL, then answers
    each line it is sent with one line."""

    def __init__(self, child: subprocess.Popen) -> None:
        assert child.stdin is not None and child.stdout is not None
        self._child = child
        self.url = child.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), "the child S3 server did not start"

    def ask(self, line: str) -> str:
        """Send ``line``; return the child's one-line answer."""
        assert self._child.stdin is not None and self._child.stdout is not None
        self._child.stdin.write(line + "\n")
        self._child.stdin.flush()
        return self._child.stdout.readline().strip()


class OneObjectBucket(ChildBucket):
    """The child server of :func:`one_object_bucket`: its URL and its two asks."""

    def flip_next(self) -> None:
        """The object's next GET arrives with its first byte flipped."""
        assert self.ask("flip") == "armed"

    def gets(self) -> list[tuple[int, int]]:
        """(first byte asked for, bytes sent) of each GET of the object since the last call."""
        return [(first_byte(rng), sent) for rng, sent in json.loads(self.ask("log"))]


@contextmanager
def one_object_bucket(key: str, size: int, part_size: int = 8 * 1024 * 1024) -> Iterator[OneObjectBucket]:
    """The synthetic bucket plus ``key``: ``size`` bytes seeded from the key, uploaded in
    multipart parts of ``part_size``."""
    with child_server(_SERVE_ONE, {"key": key, "size": size, "part_size": part_size}) as child:
        yield OneObjectBucket(child)
