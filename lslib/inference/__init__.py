"""Zero-shot inference: the predictor (encode once, prompt many times) and large-area tiled mapping.

Layering: :mod:`lslib.model` + :mod:`lslib.fusion` <- this package <- :mod:`lslib.mapui` and the CLI.
"""

from lslib.inference.inputs import assign_bands, image_tensor, with_scene_stretch
from lslib.inference.predictor import Prediction, Predictor

__all__ = ["Prediction", "Predictor", "assign_bands", "image_tensor", "with_scene_stretch"]
