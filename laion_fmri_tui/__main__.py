"""``python -m laion_fmri_tui`` runs the same entry point as the console script."""

from laion_fmri_tui.cli import main

raise SystemExit(main())
