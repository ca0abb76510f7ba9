"""laion-fmri-tui: get the LAION-fMRI dataset onto a researcher's disk.

Nothing is imported eagerly here so that ``--batch`` and the service layer
never pay for (or pull in) the Textual front end.
"""

__version__ = "0.1.0"
