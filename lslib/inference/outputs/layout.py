"""The names lslib uses in an output folder: final files, hidden run files, and the patterns of its temporaries.

The folder's layout and the meaning of each file are described in :mod:`lslib.inference.outputs`.
"""

from __future__ import annotations

import re

CLASS_MAP = "class_map.tif"
CONFIDENCE = "confidence.tif"
SIDECAR = "map.json"
PROMPTS = "prompts.yaml"
#: where lslib's copy of the prompt set goes when ``prompts.yaml`` is not lslib's (an input, the user's file)
PROMPTS_ALT = "prompts.lslib.yaml"
PROGRESS = ".progress.json"
LOCK = ".lslib.lock"
PARTIAL_DIR = ".lslib-partial"
#: hidden partial files of lslib < 0.x (one shared GTiff per output): recognised by their tags and removed
LEGACY_PARTIAL = (".class_map.partial.tif", ".confidence.partial.tif")
PROGRESS_FORMAT = 2
OUR_FILES = (CLASS_MAP, CONFIDENCE, SIDECAR, PROMPTS, PROGRESS, *LEGACY_PARTIAL)
#: the files lslib writes inside .lslib-partial/: blocks, the VRT mosaics, staged prompt files, their temporaries
PARTIAL_FILE = re.compile(
    r"^(b\d{6}\.(class|conf)\.tif|(class|conf)\.vrt|prompts(\.lslib)?\.(yaml|safetensors)"
    r"|\..+\.[a-z0-9_]{8}\.part\.(tif|vrt|yaml|safetensors))$"
)
#: final names whose atomic-write temporaries a killed run may leave in out/
TEMP_TARGETS = (CLASS_MAP, CONFIDENCE, SIDECAR, PROGRESS, PROMPTS, PROMPTS_ALT, "prompts.safetensors",
                "prompts.lslib.safetensors")
