"""Model parts, one file per part of the paper's diagram; :mod:`~lslib.model.clip_knowledge` for the fusion."""
