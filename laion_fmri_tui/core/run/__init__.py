"""Running a plan: its spec (checked once), the factory that builds its engine,
the controls every front end uses, and the app's engine in a child process.
"""
