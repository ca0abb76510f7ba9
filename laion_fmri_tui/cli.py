"""Entry point: ``--batch`` runs headless; otherwise the full-screen app.

The app (and so Textual) is imported only inside the branch that needs it,
which keeps ``--batch`` light to start and free of Textual.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--batch" in args:
        from laion_fmri_tui.batch.runner import main as batch_main

        return batch_main(args)
    if args and args[0] in ("-h", "--help"):
        from laion_fmri_tui.batch.args import build_parser

        build_parser().print_help()
        return 0
    if args and args[0] == "--version":
        from laion_fmri_tui import __version__

        print(f"laion-fmri-tui {__version__}")
        return 0
    sys.stderr.write(
        "laion-fmri-tui: the full-screen app is not part of this version yet; "
        "use --batch (see laion-fmri-tui --batch --help)\n"
    )
    return 2
