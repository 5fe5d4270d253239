"""The golden maps: the demo scenes mapped by the released model, to prove a refactor changes no map.

:func:`compute` maps crops of the two demo scenes (``lslib.demo.zero_shot``) with the released
checkpoint through both doors a user takes: :func:`~lslib.inference.tiling.large_area.map_large_area` (tiles
of 256 px with overlap, so blending is exercised) and :meth:`Predictor.predict` (each fusion mode).
It uses only names that existed before the issue-15 redesign, so the stored ``demo_maps.npz`` was
written by the code *before* it (commit 0f53349) and ``tests/test_golden_maps.py`` compares the
code of today with it.

Regenerate (only when a change of the maps is intended, and say so in the commit)::

    python tests/golden/golden_maps.py tests/golden/demo_maps.npz
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

MAJORTOM = (
    "majortom-core-s2l2a-sample/S2L2A/199U/199U_1099R/S2B_MSIL2A_20200223T032739_N9999_R018_T48QUE_20230924T183543"
)
TERRAMESH = "terramesh-examples-s2-esri-lulc/S2L2A/433D_629L_3_1.tif"


def scenes() -> dict:
    """``{name: (image crop, prompts)}``: a 384 x 384 crop of each demo scene."""
    from lslib.data.fetch import fetch, fetch_dir
    from lslib.data.readers import read_sentinel2
    from lslib.demo.zero_shot import demo_prompt_set
    from lslib.prompt_set import from_taxonomy

    vietnam = read_sentinel2(fetch_dir(MAJORTOM)).isel(y=slice(300, 684), x=slice(300, 684))
    chile = read_sentinel2(fetch(TERRAMESH))
    chile = chile.isel(y=slice(0, min(384, chile.sizes["y"])), x=slice(0, min(384, chile.sizes["x"])))
    return {"vietnam": (vietnam, demo_prompt_set()), "chile": (chile, from_taxonomy("esa_worldcover"))}


def compute() -> dict[str, np.ndarray]:
    """Every golden array: ``<scene>/tiled_codes``, ``<scene>/tiled_conf``, ``<scene>/<fusion>_codes``, ..."""
    import torch

    from lslib.data.readers import read_geotiff
    from lslib.inference import Predictor
    from lslib.inference.tiling.large_area import map_large_area
    from lslib.model.build import load_released

    torch.manual_seed(0)
    model = load_released()
    out: dict[str, np.ndarray] = {}
    for name, (image, prompts) in scenes().items():
        predictor = Predictor(model)
        with tempfile.TemporaryDirectory() as tmp:
            res = map_large_area(image, prompts, Path(tmp) / name, predictor=predictor, tile=256, overlap=32,
                                 overwrite=True, progress=False)
            out[f"{name}/tiled_codes"] = np.asarray(read_geotiff(res.paths["class_map"]).values).squeeze()
            out[f"{name}/tiled_conf"] = np.asarray(read_geotiff(res.paths["confidence"]).values).squeeze()
        predictor.set_image(image.isel(y=slice(0, 256), x=slice(0, 256)))
        for fusion in ("global", "classwise", "decoder", "similarity"):
            predictor.mode = fusion
            pred = predictor.predict(prompts)
            out[f"{name}/{fusion}_codes"] = np.asarray(pred.class_map.values)
            out[f"{name}/{fusion}_conf"] = np.asarray(pred.confidence.values)
    return out


if __name__ == "__main__":
    arrays = compute()
    # confidences at every 4th pixel keep the file small (~0.1 MB) and still catch any change of the maps
    np.savez_compressed(sys.argv[1], **{k: v[::4, ::4] if "conf" in k else v for k, v in arrays.items()})
    for k, v in arrays.items():
        print(k, v.shape, v.dtype, np.unique(v).size if "codes" in k else float(np.nanmean(v)))
