"""lslib — LandSegmenter for notebooks: text-prompted land-use/land-cover mapping for any sensor.

The handful of names a notebook needs are exported here, loaded on first use (PEP 562)::

    from lslib import open_image, load_released, Predictor, map_large_area, view, quick_map, PromptSet

===========================================================  ==========================================
names                                                        defined in
===========================================================  ==========================================
``open_image``                                               :mod:`lslib.data.images`
``build_model``, ``load_model``, ``load_released``           :mod:`lslib.model.build`
``Predictor``                                                :mod:`lslib.inference.predictor`
``with_scene_stretch``                                       :mod:`lslib.inference.inputs`
``map_large_area``                                           :mod:`lslib.inference.tiling.large_area`
``save_taught``                                              :mod:`lslib.inference.teach`
``MapApp``, ``quick_map``                                    :mod:`lslib.mapui.app`
``view``                                                     :mod:`lslib.mapui.result_view`
``PromptSet``, ``from_taxonomy``, ``resolve``                :mod:`lslib.prompt_set`
``default_model``                                            :mod:`lslib.default_model`
===========================================================  ==========================================

Layers (dependencies point one way; ``tests/test_layers.py`` holds the table and enforces it)::

    vocabulary (taxonomy, prompt_set, atomic, yaml_config)  <-  data
    vocabulary  <-  model  <-  fusion, metrics
    data, fusion  <-  inference  <-  training
                      inference  <-  mapui (and viz)
    all of these  <-  app (cli, demo, default_model, __main__ and these exports)  <-  notebooks

``import lslib`` is cheap: nothing above is imported until a name is used, and heavy dependencies (torch,
matplotlib, ipyleaflet) are imported by the submodules that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lslib.data.images import open_image
    from lslib.default_model import default_model
    from lslib.inference.inputs import with_scene_stretch
    from lslib.inference.predictor import Predictor
    from lslib.inference.teach import save_taught
    from lslib.inference.tiling.large_area import map_large_area
    from lslib.mapui.app import MapApp, quick_map
    from lslib.mapui.result_view import view
    from lslib.model.build import build_model, load_model, load_released
    from lslib.prompt_set import PromptSet, from_taxonomy, resolve

__version__ = "0.1.0"

#: exported name -> the module that defines it (imported on first access)
_EXPORTS = {
    "open_image": "lslib.data.images",
    "build_model": "lslib.model.build",
    "load_model": "lslib.model.build",
    "load_released": "lslib.model.build",
    "default_model": "lslib.default_model",
    "Predictor": "lslib.inference.predictor",
    "with_scene_stretch": "lslib.inference.inputs",
    "map_large_area": "lslib.inference.tiling.large_area",
    "save_taught": "lslib.inference.teach",
    "MapApp": "lslib.mapui.app",
    "quick_map": "lslib.mapui.app",
    "view": "lslib.mapui.result_view",
    "PromptSet": "lslib.prompt_set",
    "from_taxonomy": "lslib.prompt_set",
    "resolve": "lslib.prompt_set",
}

__all__ = [
    "MapApp",
    "Predictor",
    "PromptSet",
    "__version__",
    "build_model",
    "default_model",
    "from_taxonomy",
    "load_model",
    "load_released",
    "map_large_area",
    "open_image",
    "quick_map",
    "resolve",
    "save_taught",
    "view",
    "with_scene_stretch",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lslib' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
