"""``python -m laion_fmri_tui`` runs the same entry point as the console script."""

from laion_fmri_tui.cli import main

if __name__ == "__main__":  # a spawned transfer process imports this module too
    raise SystemExit(main())
