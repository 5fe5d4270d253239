"""The area-of-interest and imagery panel: draw an AOI, use the map view or the whole image, load imagery.

AOIs come from ipyleaflet's ``DrawControl`` (rectangle or polygon, EPSG:4326), from the current view
(``Map.bounds``) or from code (:meth:`lslib.mapui.MapApp.set_aoi`: bounds in the image CRS or GeoJSON).
Headless (CI, no browser) the ``aoi=`` argument or the whole image is used. Imagery: a GeoTIFF path (with
optional band names / sensor for files without wavelengths) or one STAC item (a local loopback API,
Planetary Computer or Earth Search).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from lslib.mapui.aoi import bounds_geojson
from lslib.mapui.common import PanelHost, guarded, message_html


class AoiPanel:
    """AOI drawing (DrawControl on the app's map) and imagery loading; handlers call the app, never the model."""

    def __init__(self, app: PanelHost) -> None:
        from ipyleaflet import DrawControl

        self._app = app
        self.message = w.HTML()
        safe = guarded(self._error)
        shape = {"shapeOptions": {"color": "#ff00ff", "fillOpacity": 0.05, "weight": 2}}
        self.draw = DrawControl(rectangle=shape, polygon=shape, polyline={}, circlemarker={}, circle={}, marker={})
        self.draw.on_draw(safe(self._on_draw))
        self._view = w.Button(description="use map view", icon="crop", tooltip="AOI = the current map view")
        self._whole = w.Button(description="whole image", icon="expand", tooltip="AOI = the whole image")
        self._view.on_click(safe(self._on_view))
        self._whole.on_click(safe(lambda _b: self._app.set_aoi(None)))
        self._path = w.Text(placeholder="GeoTIFF path", layout=w.Layout(width="300px"))
        self._bands = w.Text(placeholder="bands (e.g. red,green,blue,nir) - optional", layout=w.Layout(width="300px"))
        self._sensor = w.Dropdown(
            options=["", "rgb", "naip", "s2-l2a", "landsat8"],
            value="",
            description="sensor",
            layout=w.Layout(width="180px"),
        )
        self._load_tif = w.Button(description="load GeoTIFF", icon="image")
        self._load_tif.on_click(safe(self._on_load_tif))
        self._stac_url = w.Text(
            placeholder="STAC API URL (local_stac().url, Planetary Computer, Earth Search)",
            layout=w.Layout(width="420px"),
        )
        self._collection = w.Text(placeholder="collection, e.g. terramesh-s2l2a", layout=w.Layout(width="260px"))
        self._item = w.Text(placeholder="item id (optional)", layout=w.Layout(width="260px"))
        self._load_stac = w.Button(description="load STAC item", icon="cloud-download")
        self._load_stac.on_click(safe(self._on_load_stac))
        intro = w.HTML(
            "<small>Draw a rectangle or polygon on the map (toolbar, top left) to map that area; each AOI is "
            "encoded once, then prompt edits re-render from the cached embeddings. Areas above "
            f"{app.max_pixels:,} px are refused: use <code>lslib predict</code> for them.</small>"
        )
        self.widget = w.VBox(
            [
                intro,
                w.HBox([self._view, self._whole]),
                w.HTML("<b>imagery</b>"),
                w.HBox([self._path, self._load_tif]),
                w.HBox([self._bands, self._sensor]),
                w.HBox([self._stac_url]),
                w.HBox([self._collection, self._item, self._load_stac]),
                self.message,
            ]
        )
        self.widget.add_class("lslib-aoi-panel")

    def _error(self, text: str) -> None:
        self.message.value = message_html(text)
        self._app.show_error(text)

    def _on_draw(self, _control: Any, action: str, geo_json: dict[str, Any]) -> None:
        if action not in ("created", "edited"):
            return
        ok = self._app.set_aoi(geo_json)
        if ok:
            self.message.value = message_html("AOI set from the drawn shape", "info")
        self.draw.clear()  # the app draws the AOI outline as its own layer (app.aoi_layer)

    def _on_view(self, _button: object) -> None:
        bounds = self._app.map.bounds
        if not bounds or len(bounds) != 2:
            raise ValueError("the map view is not known yet (no browser connected): draw an AOI or pass aoi=")
        (south, west), (north, east) = bounds
        self._app.set_aoi(bounds_geojson(south, west, north, east))

    def _on_load_tif(self, _button: object) -> None:
        path = self._path.value.strip()
        if not path:
            raise ValueError("type the path of a GeoTIFF first")
        # the app opens it (lazily when large: size guard from the header, preview for the backdrop)
        self._app.set_image(path, source=path, bands=self._bands.value.strip() or None,
                            sensor=self._sensor.value or None)
        self.message.value = message_html(f"loaded {path}", "info")

    def _on_load_stac(self, _button: object) -> None:
        from lslib.mapui.imagery import PLANETARY_COMPUTER, stac_image

        url, collection = self._stac_url.value.strip(), self._collection.value.strip()
        if not url or not collection:
            raise ValueError("give the STAC API URL and a collection id")
        sign = "planetary_computer" if url.rstrip("/") == PLANETARY_COMPUTER else None
        image = stac_image(url, collection, item_id=self._item.value.strip() or None, sign=sign)
        self._app.set_image(image, source=f"{collection}/{image.attrs.get('stac_item', '')}")
        self.message.value = message_html(f"loaded STAC item {image.attrs.get('stac_item')}", "info")
