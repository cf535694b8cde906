"""What runs inside a Python node's own interpreter: ``run_node.py`` and the ``seeknal.pipeline`` API it provides.

Nothing here is imported by seeknal-dagster itself. ``engines/python_process.py`` starts ``run_node.py`` as a
script, so this directory is the child's first ``sys.path`` entry and ``import seeknal`` finds the package here.
"""
