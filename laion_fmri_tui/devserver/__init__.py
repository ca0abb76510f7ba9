"""A local stand-in for the public ``laion-fmri`` S3 bucket.

The test suite and the app's offline ``--demo`` mode both need a bucket that
looks like the real one (same key grammar, held-out sessions that answer 403,
a multipart object, a prefix with more than 1,000 keys) but is small, fast and
deterministic. ``synthetic`` describes that bucket; ``s3server`` serves it from
moto on 127.0.0.1 with a request log, throttling and fault injection. moto is
an optional dependency (the ``demo``/``test`` extras), so nothing here is
imported by the rest of the package.
"""
