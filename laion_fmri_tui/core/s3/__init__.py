"""The public bucket: where it is, its listings (cached), and its objects' GETs.
"""
