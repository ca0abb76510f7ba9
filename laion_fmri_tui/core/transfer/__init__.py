"""The transfer engine: one worker pool, resumable ``.part`` files, verification."""
