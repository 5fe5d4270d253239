"""Data layer: manifests and fetching, sensor band tables, georeferenced readers, synthetic scenes.

Nothing here imports :mod:`lslib.model`.
"""
