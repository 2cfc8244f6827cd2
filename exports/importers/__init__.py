"""Parsing import files line by line into validated records (no database writes here).

Each parser yields (line number, record) and raises ImportFailure naming the line and the
problem; exports/services/imports.py runs a parser once to validate the whole file, then
again inside one transaction to write, so a bad file changes nothing.
"""
