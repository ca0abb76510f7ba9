"""Multipart ETags of uploads in parts of any size are checked byte for byte.

The part size of a multipart upload is only known to lie between size/N and
size/(N-1). The tool first tries the whole-MiB and whole-MB sizes that fit;
when none matches it asks the bucket (``HEAD ?partNumber=1`` answers part 1's
length) and hashes the bytes on disk once more with that size. Before, an
upload in parts of 5,300,001 bytes (neither whole MiB nor whole MB), or of
9,000,000 bytes in two parts (more than eight whole sizes fit, so the whole-MB
ones were dropped), failed every run with "checksum mismatch".

The objects are real multipart uploads to a moto server of the test's own, in
a child process (see ``own_bucket``), which can flip the first byte of an
object's next GET, and can ignore ``partNumber`` as servers without it do.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from batchtools import batch_command, batch_env
from own_bucket import ChildBucket, child_server

from laion_fmri_tui.core.disk import partfile
from laion_fmri_tui.devserver import synthetic


def key(desc: str) -> str:
    return (f"{synthetic.GLM}/sub-05/ses-01/func/"
            f"sub-05_ses-01_task-images_space-T1w_stat-effect_desc-{desc}_statmap.nii.gz")


ODD = {  # desc: (part size, size)
    "OddParts": (5_300_001, 2 * 5_300_001 + 2_000_000),  # 3 parts; 5 MiB, 6 MiB and 6 MB fit, none is it
    "WholeMB": (9_000_000, 10_000_000),  # 2 parts; 5-9 MiB and 6-9 MB fit: more than 8
    "OddPartsToo": (5_300_001, 2 * 5_300_001 + 1_000_000),  # the same uploader's other object
    "EightMB": (8_000_000, 20_000_000),  # 3 parts; 7-9 MiB and 7-9 MB fit, 8 MiB is the likeliest, 8 MB is it
}
DATA = {desc: random.Random(desc).randbytes(size) for desc, (_, size) in ODD.items()}

_SERVE = """
import json, random, sys
from laion_fmri_tui.devserver import synthetic
from laion_fmri_tui.devserver.s3server import LocalS3Server, seed
ask = json.loads(sys.stdin.readline())
extra = [synthetic.SyntheticObject(key, random.Random(desc).randbytes(size), multipart_part_size=part)
         for desc, key, part, size in ask]
server = LocalS3Server().start()
seed(server, synthetic.build_objects() + extra)
print(server.url, flush=True)
for line in sys.stdin:
    what, arg = line.split()
    if what == "flip":  # the object's next GET arrives with its first byte flipped
        server.fail_next(arg, 1, "flip")
    elif what == "parts":  # "parts on|off": answer ?partNumber= as S3 does, or ignore it
        server.part_numbers = arg == "on"
    elif what == "asked":  # "asked KEY": how many HEAD ?partNumber= of KEY came
        print(sum(r.method == "HEAD" and r.key == arg and "partNumber" in r.query for r in server.requests),
              flush=True)
        continue
    elif what == "gets":  # "gets KEY": how many GETs of KEY came
        print(len(server.gets(arg)), flush=True)
        continue
    print("ok", flush=True)
server.stop()
"""


class Bucket(ChildBucket):
    def tell(self, line: str) -> None:
        assert self.ask(line) == "ok"


@pytest.fixture(scope="module")
def bucket() -> Iterator[Bucket]:
    ask = [(desc, key(desc), part, size) for desc, (part, size) in ODD.items()]
    with child_server(_SERVE, ask) as child:  # type: ignore[arg-type]
        yield Bucket(child)


@pytest.fixture
def part_numbers(bucket) -> Iterator[None]:
    yield
    bucket.tell("parts on")


def run(url: str, data_dir: Path, *descs_and_args: str) -> subprocess.CompletedProcess:
    descs = [arg for arg in descs_and_args if arg in ODD]
    args = [arg for arg in descs_and_args if arg not in ODD]
    selection = ("--subject", "05", "--ses", "01", "--desc", *descs, "--suffix", "statmap", "--extension", ".nii.gz")
    return subprocess.run(batch_command(*selection, *args, "--data-dir", str(data_dir), "--endpoint-url", url),
                          capture_output=True, text=True, env=batch_env(), stdin=subprocess.DEVNULL, timeout=120)


def test_the_uploads_are_in_the_odd_parts(bucket, licensed_data_dir):
    """The premise: each ETag counts the parts the upload was made of."""
    for desc, (part, size) in ODD.items():
        plan = run(bucket.url, licensed_data_dir, desc, "--dry-run", "--json")
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert f'-{-(-size // part)}"' in plan.stdout, plan.stdout


@pytest.mark.parametrize("desc", ["OddParts", "WholeMB"])
@pytest.mark.parametrize("how", [(), ("--part-size", "1M")], ids=["sequential", "ranged-parts"])
def test_an_upload_in_odd_parts_is_verified_by_its_etag(bucket, licensed_data_dir, desc, how):
    result = run(bucket.url, licensed_data_dir, desc, *how)
    assert result.returncode == 0, result.stdout + result.stderr
    size = len(DATA[desc])
    assert f"done     {key(desc)}  {size / 1e6:.1f} MB  etag ok" in result.stdout, result.stdout + result.stderr
    assert (licensed_data_dir / key(desc)).read_bytes() == DATA[desc]
    again = run(bucket.url, licensed_data_dir, desc, "--verify")
    assert again.returncode == 0, again.stdout + again.stderr


@pytest.mark.parametrize("how", [(), ("--part-size", "1M")], ids=["sequential", "ranged-parts"])
def test_a_flipped_byte_under_an_etag_of_odd_parts_fails_the_file(bucket, licensed_data_dir, how):
    desc = "OddParts"
    bucket.tell(f"flip {key(desc)}")
    first = run(bucket.url, licensed_data_dir, desc, *how)
    assert first.returncode == 1, first.stdout + first.stderr
    assert f"FAILED   {key(desc)}: checksum mismatch" in first.stdout
    assert not (licensed_data_dir / key(desc)).exists()


def test_verify_finds_a_flipped_byte_under_an_etag_of_odd_parts(bucket, licensed_data_dir):
    desc = "OddParts"
    dest = licensed_data_dir / key(desc)
    assert run(bucket.url, licensed_data_dir, desc).returncode == 0
    data = bytearray(dest.read_bytes())
    data[len(data) // 2] ^= 0x01
    dest.write_bytes(bytes(data))
    bad = run(bucket.url, licensed_data_dir, desc, "--verify")
    assert bad.returncode != 0
    lines = [line for line in bad.stdout.splitlines() if key(desc) in line]
    assert lines and "checksum mismatch" in lines[0], bad.stdout


@pytest.mark.parametrize("how", [(), ("--part-size", "1M")], ids=["sequential", "ranged-parts"])
def test_without_a_part_size_from_the_server_the_file_is_kept_and_said_unchecked(bucket, licensed_data_dir,
                                                                                 part_numbers, how):
    """A server that ignores ``partNumber``: the ETag cannot be checked. The
    file is kept on its size, its line says ``size ok`` (never ``etag ok``),
    and one line says the ETag was not checked."""
    desc = "OddParts"
    bucket.tell("parts off")
    result = run(bucket.url, licensed_data_dir, desc, *how)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"done     {key(desc)}  12.6 MB  size ok" in result.stdout, result.stdout
    said = [line for line in (result.stdout + result.stderr).splitlines() if "ETag not checked" in line]
    assert said == [f"warning: {key(desc)}: ETag not checked (no part size guessed from its size matched, and the "
                    "server did not tell the upload's part size); kept on its size alone"], result.stderr
    assert (licensed_data_dir / key(desc)).read_bytes() == DATA[desc]
    verify = run(bucket.url, licensed_data_dir, desc, "--verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert said == [line for line in verify.stderr.splitlines() if "ETag not checked" in line], verify.stderr


def test_a_part_size_the_bucket_told_is_tried_first_for_the_next_object(bucket, licensed_data_dir):
    """Two objects of one uploader, checked one after the other (``--verify``
    with one thread): the bucket is asked once, for the one checked first; the
    other is checked with the size it told at once, without a HEAD."""
    first, second = key("OddParts"), key("OddPartsToo")
    fetched = run(bucket.url, licensed_data_dir, "OddParts", "OddPartsToo")
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    asked = {k: int(bucket.ask(f"asked {k}")) for k in (first, second)}
    result = run(bucket.url, licensed_data_dir, "OddParts", "OddPartsToo", "--verify", "--n-jobs", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ETag not checked" not in result.stderr
    now = {k: int(bucket.ask(f"asked {k}")) - asked[k] for k in (first, second)}
    assert sorted(now.values()) == [0, 1], f"one HEAD, for the object checked first: {now}"


@pytest.mark.parametrize("how", [(), ("--part-size", "1M")], ids=["sequential", "ranged-parts"])
def test_an_upload_in_whole_mb_parts_is_verified_without_asking_the_bucket(bucket, licensed_data_dir,
                                                                           part_numbers, how):
    """Several whole sizes fit; only the likeliest (aws-cli's 8 MiB) is hashed
    as the bytes arrive, so a 64 MiB object costs one MD5 pass, not three.
    When it is not the upload's, the others are tried on the bytes on disk:
    the file is proven by its ETag even from a server that cannot tell part
    sizes, with no HEAD."""
    desc = "EightMB"
    bucket.tell("parts off")
    asked = int(bucket.ask(f"asked {key(desc)}"))
    result = run(bucket.url, licensed_data_dir, desc, *how)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"done     {key(desc)}  20.0 MB  etag ok" in result.stdout, result.stdout + result.stderr
    assert "ETag not checked" not in result.stderr
    assert (licensed_data_dir / key(desc)).read_bytes() == DATA[desc]
    assert int(bucket.ask(f"asked {key(desc)}")) == asked
    verify = run(bucket.url, licensed_data_dir, desc, "--verify")
    assert verify.returncode == 0 and "ETag not checked" not in verify.stderr, verify.stdout + verify.stderr


def etag_of(desc: str) -> str:
    """The multipart ETag of ``desc``'s upload: the MD5 of its parts' MD5s, and their count."""
    part, size = ODD[desc]
    data = DATA[desc]
    digests = [hashlib.md5(data[at:at + part]).digest() for at in range(0, size, part)]
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


@pytest.mark.parametrize("chunk", [0, 1024 * 1024], ids=["sequential", "ranged-parts"])
def test_a_part_kept_whole_of_an_upload_in_odd_parts_is_renamed_without_a_get(bucket, licensed_data_dir, chunk):
    """A run stopped between its last byte and the rename leaves a ``.part``
    whose record claims every byte. Its check at the open is the file's
    check: for an upload in parts of 5,300,001 bytes the bucket is asked
    for the part size, and the file is kept and renamed, with no GET (it
    was discarded as a checksum mismatch and fetched again whole)."""
    desc = "OddParts"
    data = DATA[desc]
    dest = licensed_data_dir / key(desc)
    dest.parent.mkdir(parents=True)
    partfile.part_path(dest).write_bytes(data)
    parts = -(-len(data) // chunk) if chunk else 0
    extents = [min(chunk, len(data) - i * chunk) for i in range(parts)]
    partfile.record_path(dest).write_text(json.dumps(
        {"size": len(data), "etag": etag_of(desc), "chunk_size": chunk, "extents": extents}))
    gets = int(bucket.ask(f"gets {key(desc)}"))
    result = run(bucket.url, licensed_data_dir, desc, *(("--part-size", "1M") if chunk else ()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kept bytes discarded" not in result.stderr, result.stderr
    assert f"done     {key(desc)}  {len(data) / 1e6:.1f} MB  etag ok" in result.stdout, result.stdout
    assert int(bucket.ask(f"gets {key(desc)}")) == gets, "no byte fetched again"
    assert dest.read_bytes() == data
    assert not [p for p in dest.parent.iterdir() if ".part" in p.name]
