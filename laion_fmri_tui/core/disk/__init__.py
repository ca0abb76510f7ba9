"""The data directory on disk: where it is, temp names, per-file locks, resume
records and the sums already proved. Shared by planning (what is on disk),
the transfer engine (writing) and ``--verify`` (checking).
"""
