"""Interactive zero-shot mapping: an ipyleaflet map with widget-editable class prompts (``docs/mapui.md``).

    from lslib.mapui import quick_map
    app = quick_map()                 # default real scene, trained default model, ESA WorldCover prompts
    app.editor.set_name(0, "forest")  # same path as typing in the first name box: one re-encode, one render
    app.areas_table(); app.agreement(); app.export("out/")

Layering: :mod:`lslib.inference` (Predictor) <- this package <- the notebooks. Panels call the predictor,
never the model. Modules: ``app`` (MapApp), ``prompt_editor`` (prompt rows), ``aoi`` (AOI clipping and size guard),
``imagery`` (images, references, STAC), ``render`` (index maps, colours, PNG), ``analysis`` (areas,
agreement, point accuracy, export), ``common`` (panel helpers), ``panel_aoi``, ``panel_analysis`` and
``panel_teach`` (the panels), ``result_view`` (a finished ``lslib predict`` folder on a leafmap map: :func:`view`).
"""

from lslib.mapui.app import MapApp, quick_map
from lslib.mapui.prompt_editor import PromptEditor
from lslib.mapui.result_view import MapOutputError, ResultView, view

__all__ = ["MapApp", "MapOutputError", "PromptEditor", "ResultView", "quick_map", "view"]
