"""From what the user asked for to the list of files a run covers.

``selection`` (what was asked) -> ``planner`` applying ``bids`` (upstream's rules)
-> a :class:`~laion_fmri_tui.core.models.Plan`; ``plan_file`` freezes a plan for
SLURM arrays, ``shard`` splits it, ``browse`` and ``inventory`` serve the tree.
"""
