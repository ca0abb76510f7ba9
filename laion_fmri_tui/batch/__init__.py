"""The headless front end: flags in, one line per event out, documented exit codes."""
