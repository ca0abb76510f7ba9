"""Exceptions the front ends turn into a one-line message and an exit code.

Every user-facing failure derives from :class:`LaionFmriError`, whose text is
already fit to show (no traceback, no secrets). ``exit_code`` is what
``--batch`` returns for it; the app shows the text instead.
"""

from __future__ import annotations


class LaionFmriError(Exception):
    """Base of every error the user should see as one clear line."""

    exit_code = 1


class UsageError(LaionFmriError):
    """The user asked for something malformed or unknown (exit 2)."""

    exit_code = 2


class DataDirError(UsageError):
    """No usable data directory (not configured, missing, not writable)."""


class NoMatchingDataError(UsageError):
    """The selection matched no file in the bucket."""


class LicenseNotAcceptedError(LaionFmriError):
    """The CC0 dataset licence has not been accepted for this data directory."""

    exit_code = 3


class BucketUnreachableError(LaionFmriError):
    """The S3 endpoint could not be reached or answered nonsense (exit 4)."""

    exit_code = 4


class UnsafeKeyError(LaionFmriError):
    """An S3 key would map outside the data directory; it is refused."""
