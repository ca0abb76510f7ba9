"""Exceptions the front ends turn into a one-line message (and, in ``--batch``, an exit code).

Every user-facing failure derives from :class:`LaionFmriError`, whose text is
already fit to show (no traceback, no secrets), and carries a
:class:`Category`: what kind of failure it is, which is what a front end
acts on. The core knows no exit codes: ``--batch`` maps categories to them in
one table (:mod:`laion_fmri_tui.batch.exit_codes`); the app shows the text.
"""

from __future__ import annotations

import enum
from typing import ClassVar


class Category(enum.Enum):
    """What kind of failure an error is (what the user should do about it)."""

    FAILED = "failed"
    """The run went wrong (files failed, no space, the engine stopped): rerun."""
    USAGE = "usage"
    """The user asked for something malformed or unknown: fix the command."""
    NOT_GRANTED = "not granted"
    """The licence or the stimulus access is not granted: accept or request it."""
    UNREACHABLE = "unreachable"
    """The bucket or the access service could not be reached: try again later."""


class LaionFmriError(Exception):
    """Base of every error the user should see as one clear line."""

    category: ClassVar[Category] = Category.FAILED


class UsageError(LaionFmriError):
    """The user asked for something malformed or unknown."""

    category = Category.USAGE


class DataDirError(UsageError):
    """No usable data directory (not configured, missing, not writable)."""


class NoMatchingDataError(UsageError):
    """The selection matched no file in the bucket."""


class LicenseNotAcceptedError(LaionFmriError):
    """The CC0 dataset licence has not been accepted for this data directory."""

    category = Category.NOT_GRANTED


class BucketUnreachableError(LaionFmriError):
    """The S3 endpoint could not be reached or answered nonsense."""

    category = Category.UNREACHABLE


class UnsafeKeyError(LaionFmriError):
    """An S3 key would map outside the data directory; it is refused."""
