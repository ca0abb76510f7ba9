"""The full-screen front end. The only package that imports Textual."""
