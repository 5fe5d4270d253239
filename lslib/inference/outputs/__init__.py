"""Output files of large-area mapping: class-map and confidence COGs, sidecar, progress record, block store.

Layout of an output folder (``out/``)::

    class_map.tif     uint8 COG in the one class-map convention of :mod:`lslib.inference.codes`: value
                      k = index of the prompt (0 .. K-1), 254 = unknown (below the class threshold),
                      255 = nodata (GeoTIFF nodata); colour table = prompt colours, unknown grey
                      (128, 128, 128), nodata transparent black; tags ``LSLIB_CLASSES/UNKNOWN/NODATA``
    confidence.tif    float32 COG: fused score of the winning class in [0, 1], NaN nodata
    map.json          sidecar (also in the COGs' ``LSLIB_*`` tags): prompts, thresholds, fusion mode,
                      model variant + sha256, lslib version, input, tile/overlap/block, areas, the files
                      of the map and the sha256 of those lslib wrote. Written last: its presence means
                      the run is complete.
    prompts.yaml      the prompt set (:func:`lslib.prompt_set.save`); ``prompts.lslib.yaml`` when a file
                      that lslib did not write (e.g. the ``--prompt-set`` input itself) holds that name

While running, only hidden names exist: ``.lslib-partial/`` (one small tiled GTiff per finished block
and output, ``b000042.class.tif`` / ``b000042.conf.tif``), ``.progress.json`` (the run signature and
the finished blocks with their valid-pixel counts) and ``.lslib.lock`` (held with ``flock`` while a
run writes into the folder). A block is recorded only once both of its files are written, read back,
flushed to disk and renamed into place; no file is ever shared between blocks, so a failure (disk
full, kill, power cut) while writing one block never touches the data of another. At the end both
COGs are built from a VRT mosaic of the block files under temporary names, renamed to the final names,
and the sidecar is written; a kill at any point leaves no file that looks complete.

Ownership: lslib deletes or replaces only files it recognises as its own (the COG tags ``LSLIB_*``,
the sidecar's ``signature``/``lslib_version``, the sha256 it recorded for the prompt files, the
progress record's signature) and never an input of the run; see :func:`inspect_out`.

The modules, in reading order (each imports only those before it):

- :mod:`~lslib.inference.outputs.layout`: the names above, and the patterns of lslib's temporaries;
- :mod:`~lslib.inference.outputs.files`: write errors (disk full: what to do), JSON records, sha256,
  permissions, flushes;
- :mod:`~lslib.inference.outputs.ownership`: which files of a folder are lslib's (:func:`inspect_out`),
  removing only those (:func:`remove_ours`, :func:`clean_stale`);
- :mod:`~lslib.inference.outputs.lock`: :class:`OutputLock`, one run per folder;
- :mod:`~lslib.inference.outputs.blocks`: :class:`PartialWriter`, the block files and the COGs built from them;
- :mod:`~lslib.inference.outputs.progress`: :class:`Progress` (``.progress.json``, for resuming) and
  :func:`write_sidecar` (``map.json``, the completion marker).

Every public name of these modules is importable from here (``from lslib.inference.outputs import X``); the
class-map codes and colours are re-exported from :mod:`lslib.inference.codes`, where the convention lives.
"""

from __future__ import annotations

from lslib.inference.codes import NODATA_CODE as NODATA_CODE
from lslib.inference.codes import NODATA_RGBA as NODATA_RGBA
from lslib.inference.codes import UNKNOWN_CODE as UNKNOWN_CODE
from lslib.inference.codes import UNKNOWN_RGBA as UNKNOWN_RGBA
from lslib.inference.outputs.blocks import PartialWriter
from lslib.inference.outputs.files import (
    OutputInUseError,
    OutputWriteError,
    disk_full_message,
    fsync_dir,
    make_readable,
    read_json,
    read_json_text,
    writing,
)
from lslib.inference.outputs.layout import (
    CLASS_MAP,
    CONFIDENCE,
    LEGACY_PARTIAL,
    LOCK,
    OUR_FILES,
    PARTIAL_DIR,
    PROGRESS,
    PROGRESS_FORMAT,
    PROMPTS,
    PROMPTS_ALT,
    SIDECAR,
)
from lslib.inference.outputs.lock import OutputLock
from lslib.inference.outputs.ownership import (
    OutInventory,
    clean_stale,
    inspect_out,
    is_lslib_progress,
    is_lslib_sidecar,
    remove_ours,
)
from lslib.inference.outputs.progress import Progress, write_sidecar

__all__ = [
    "CLASS_MAP",
    "CONFIDENCE",
    "LEGACY_PARTIAL",
    "LOCK",
    "NODATA_CODE",
    "NODATA_RGBA",
    "OUR_FILES",
    "PARTIAL_DIR",
    "PROGRESS",
    "PROGRESS_FORMAT",
    "PROMPTS",
    "PROMPTS_ALT",
    "SIDECAR",
    "UNKNOWN_CODE",
    "UNKNOWN_RGBA",
    "OutInventory",
    "OutputInUseError",
    "OutputLock",
    "OutputWriteError",
    "PartialWriter",
    "Progress",
    "clean_stale",
    "disk_full_message",
    "fsync_dir",
    "inspect_out",
    "is_lslib_progress",
    "is_lslib_sidecar",
    "make_readable",
    "read_json",
    "read_json_text",
    "remove_ours",
    "write_sidecar",
    "writing",
]
