"""Running a plan: the transfer engine in a child process for the app.
"""
