"""lslib.viz: RGB composites and label maps whose legend lists only the classes present."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from lslib.data.synthetic import make_scene
from lslib.viz import plot_label, rgb_composite


def test_rgb_composite_stretch_and_nodata() -> None:
    image, _ = make_scene(height=32, width=32, seed=1)
    image = image.copy()
    image[:, 0, 0] = np.nan
    rgb = rgb_composite(image)
    assert rgb.shape == (32, 32, 3) and rgb.dtype == np.float32
    assert rgb.min() >= 0 and rgb.max() <= 1 and rgb.max() > 0.9
    assert (rgb[0, 0] == 0).all()
    with pytest.raises(ValueError, match="not in the image"):
        rgb_composite(image, bands=("red", "green", "B99"))


def test_plot_label_legend_lists_present_classes_only() -> None:
    label = np.array([[10, 10, 80], [80, 0, 50]], dtype=np.uint8)
    fig, ax = plt.subplots()
    plot_label(ax, label, "esa_worldcover", title="t")
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert names == ["Tree cover", "Built-up", "Permanent water bodies"]
    plt.close(fig)


def test_plot_classes_uses_the_prompt_colours_and_lists_present_classes() -> None:
    from matplotlib.colors import to_hex

    from lslib.prompt_set import ClassPrompt, PromptSet
    from lslib.viz import UNKNOWN_COLOUR, plot_classes

    colours = {"water": "#0000ff", "trees": "#00ff00", "crops": "#ff0000"}
    prompts = PromptSet(tuple(ClassPrompt(n, colour=c) for n, c in colours.items()))
    class_map = np.array([[0, 0, 2], [2, -1, 2]])
    fig, ax = plt.subplots()
    plot_classes(ax, class_map, prompts, title="map")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["water (33 %)", "crops (50 %)", "unknown (17 %)"]  # trees absent: not listed
    cmap = ax.images[0].get_cmap()
    assert [to_hex(cmap(i)) for i in range(4)] == ["#0000ff", "#00ff00", "#ff0000", UNKNOWN_COLOUR]
    plt.close(fig)
