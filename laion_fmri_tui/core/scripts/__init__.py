"""A selection or a frozen plan written back as a ``--batch`` command or a SLURM script.
"""
