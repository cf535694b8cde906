"""The part of Seeknal's API that pipeline files use, provided by seeknal-dagster inside a Python node's process.

Only :mod:`seeknal.pipeline` is provided; Seeknal's other modules are not (a file importing them is reported by
``seeknal-dagster validate``).
"""
