"""The loopback STAC API over the real samples: catalog files, rustac server, pystac-client, odc-stac."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from lslib.data.bands import S2_L2A_ORDER, wavelengths
from lslib.data.local_stac import server as stac_local_server
from lslib.data.local_stac.catalog import COLLECTIONS, LocalStacServer, build_local_catalog, local_stac, serve_local

EXPECTED: dict[str, tuple[int, set[str]]] = {
    "terramesh-s2l2a": (5, {"data"}),
    "terramesh-s1rtc": (5, {"data"}),
    "terramesh-esri-lulc": (5, {"data"}),
    "zion-landsat-c2-l2": (1, {"blue", "green", "red", "nir08"}),
    "zion-nlcd-2011": (1, {"data"}),
    "worldcereal-s2l2a": (472, {"B02", "B03", "B04", "B08", "B05", "B06", "B07", "B8A", "B11", "B12", "SCL"}),
    "worldcereal-labels": (4, {"data"}),
    "t29unu-s2l2a": (1, {f"B{n:02d}" for n in (1, 2, 3, 4, 5, 6, 7, 9, 11, 12)} | {"B8A", "SCL"}),
    "t29unu-scl": (1, {"data"}),
}
ZION_INSIDE = {"type": "Point", "coordinates": [-113.03, 37.25]}  # Zion Canyon
ZION_OUTSIDE = {"type": "Point", "coordinates": [-100.0, 37.25]}  # Kansas


def _local(href: str) -> Path:
    assert href.startswith("file://"), href
    return Path(href.removeprefix("file://"))


@pytest.fixture(scope="module")
def catalog(
    tmp_path_factory: pytest.TempPathFactory, sample: Callable[[str], Path]
) -> tuple[Path, dict[str, tuple[Path, Path]], float]:
    """(folder, catalog, build seconds) built once from the mirror into a fresh folder."""
    out = tmp_path_factory.mktemp("stac-local")
    t0 = time.perf_counter()
    cat = build_local_catalog(out)
    return out, cat, time.perf_counter() - t0


@pytest.fixture(scope="module")
def docs(catalog: tuple[Path, dict[str, tuple[Path, Path]], float]) -> dict[str, tuple[dict[str, Any], list[Any]]]:
    """collection id -> (collection dict, item dicts)."""
    return {
        cid: (json.loads(c.read_text()), json.loads(i.read_text())["features"]) for cid, (c, i) in catalog[1].items()
    }


@pytest.fixture(scope="module")
def server(catalog: tuple[Path, dict[str, tuple[Path, Path]], float]) -> Iterator[LocalStacServer]:
    srv = serve_local(catalog[1])
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server: LocalStacServer) -> Any:
    pystac_client = pytest.importorskip("pystac_client")
    return pystac_client.Client.open(server.url)


# ------------------------------------------------------------------------------------------ catalog


def test_catalog_has_every_collection_with_expected_items_and_assets(
    catalog: tuple[Path, dict[str, tuple[Path, Path]], float], docs: dict[str, tuple[dict[str, Any], list[Any]]]
) -> None:
    import pystac

    out, cat, seconds = catalog
    assert list(cat) == list(COLLECTIONS) == list(EXPECTED)
    assert seconds < 40, f"building the catalog took {seconds:.1f} s"
    for cid, (col, items) in docs.items():
        assert cat[cid] == (out / f"{cid}.collection.json", out / f"{cid}.items.json")
        count, keys = EXPECTED[cid]
        assert col["id"] == cid and col["links"] == [] and col["type"] == "Collection"
        assert col["license"] and col["description"] and col["providers"]
        assert set(col["item_assets"]) == keys
        pystac.Collection.from_dict(col)  # parses as STAC
        assert len(items) == count
        assert len({it["id"] for it in items}) == count
        west, south, east, north = col["extent"]["spatial"]["bbox"][0]
        for it in items:
            assert it["collection"] == cid and it["links"] == []
            assert it["stac_extensions"][:2] == [
                "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
                "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
            ]
            item = pystac.Item.from_dict(it)
            assert item.datetime is not None or ("start_datetime" in it["properties"])
            assert west <= it["bbox"][0] and it["bbox"][2] <= east and south <= it["bbox"][1] and it["bbox"][3] <= north
            assert set(it["assets"]) <= keys
            for asset in it["assets"].values():
                assert _local(asset["href"]).is_file()


def test_item_geometry_and_proj_match_the_files(docs: dict[str, tuple[dict[str, Any], list[Any]]]) -> None:
    checked = 0
    for cid, (_, items) in docs.items():
        for it in items[:: 40 if cid == "worldcereal-s2l2a" else 1]:
            west, south, east, north = it["bbox"]
            ring = np.asarray(it["geometry"]["coordinates"][0])
            assert ring[0].tolist() == ring[-1].tolist()
            for key, asset in it["assets"].items():
                with rasterio.open(_local(asset["href"])) as src:
                    assert asset["proj:code"] == f"EPSG:{src.crs.to_epsg()}", (cid, key)
                    assert asset["proj:shape"] == [src.height, src.width]
                    np.testing.assert_allclose(asset["proj:transform"], tuple(src.transform)[:6], rtol=0, atol=1e-9)
                    bands = asset["raster:bands"]
                    assert [b["data_type"] for b in bands] == list(src.dtypes)
                    if src.nodata is not None:
                        assert all(b["nodata"] == src.nodata for b in bands)
                    assert bands[0]["spatial_resolution"] == pytest.approx(abs(src.transform.a))
                    lo_x, lo_y, hi_x, hi_y = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
                assert west <= lo_x and south <= lo_y and hi_x <= east and hi_y <= north, (cid, it["id"], key)
                assert (ring[:, 0].min(), ring[:, 1].min()) >= (west, south)
                checked += 1
    assert checked > 60


def test_band_metadata_and_scaling(docs: dict[str, tuple[dict[str, Any], list[Any]]]) -> None:
    s2 = docs["terramesh-s2l2a"][1][0]["assets"]["data"]
    assert [b["name"] for b in s2["eo:bands"]] == list(S2_L2A_ORDER)
    np.testing.assert_allclose([b["center_wavelength"] for b in s2["eo:bands"]], wavelengths("sentinel2_l2a"))
    assert s2["eo:bands"][3]["common_name"] == "red" and s2["eo:bands"][3]["center_wavelength"] == 0.6646
    assert {(b["scale"], b["offset"], b["nodata"]) for b in s2["raster:bands"]} == {(1e-4, 0.0, 0)}
    assert [b["name"] for b in docs["terramesh-s1rtc"][1][0]["assets"]["data"]["eo:bands"]] == ["VV", "VH"]

    landsat = docs["zion-landsat-c2-l2"][1][0]
    assert landsat["properties"]["datetime"].startswith("2015-08-18")
    red = landsat["assets"]["red"]
    assert red["eo:bands"] == [{"name": "SR_B4", "common_name": "red", "center_wavelength": 0.655}]
    assert red["raster:bands"][0] == {
        "data_type": "uint16",
        "nodata": 65535,
        "scale": 2.75e-5,
        "offset": -0.2,
        "spatial_resolution": 30.0,
    }
    nlcd = docs["zion-nlcd-2011"][1][0]
    assert nlcd["assets"]["data"]["proj:code"] == "EPSG:6367"
    assert nlcd["properties"]["lslib:taxonomy"] == "nlcd"
    assert nlcd["properties"]["start_datetime"] == "2011-01-01T00:00:00Z"
    assert {c["value"] for c in nlcd["assets"]["data"]["classification:classes"]} >= {11, 21, 41, 52, 71, 82}

    tile = docs["t29unu-s2l2a"][1][0]
    props = tile["properties"]
    assert props["s2:processing_baseline"] == "04.00" and props["s2:mgrs_tile"] == "29UNU"
    assert props["eo:cloud_cover"] == pytest.approx(59.769726)
    assert props["datetime"] == "2022-10-05T11:54:11.024000Z" and props["platform"] == "sentinel-2a"
    assert tile["assets"]["B04"]["raster:bands"][0]["offset"] == -0.1
    assert tile["assets"]["B04"]["proj:shape"] == [1830, 1830] and tile["assets"]["SCL"]["proj:shape"] == [5490, 5490]
    assert docs["t29unu-scl"][1][0]["properties"]["lslib:taxonomy"] == "s2_scl"


def test_terramesh_dates_come_from_the_files(docs: dict[str, tuple[dict[str, Any], list[Any]]]) -> None:
    s2 = {it["properties"]["lslib:site"]: it for it in docs["terramesh-s2l2a"][1]}
    lulc = {it["properties"]["lslib:site"]: it for it in docs["terramesh-esri-lulc"][1]}
    assert s2["282D_485L_3_3"]["properties"]["datetime"] == "2021-07-23T13:22:41Z"
    assert s2["637U_59R_1_3"]["properties"]["datetime"] == "2017-10-30T10:41:51Z"
    for site, item in lulc.items():
        year = s2[site]["properties"]["datetime"][:4]
        assert item["properties"]["datetime"] is None
        assert item["properties"]["start_datetime"] == f"{year}-01-01T00:00:00Z"
        assert item["properties"]["lslib:taxonomy"] == "terramesh_lulc"
    s1 = docs["terramesh-s1rtc"][1][0]
    assert s1["properties"]["datetime"] == "2021-07-21T08:40:10Z"  # the S1 file's own tag


def test_worldcereal_conversion_and_cloud_cover(
    docs: dict[str, tuple[dict[str, Any], list[Any]]], sample: Callable[[str], Path]
) -> None:
    items = docs["worldcereal-s2l2a"][1]
    cover = np.array([it["properties"]["eo:cloud_cover"] for it in items])
    assert ((cover >= 0) & (cover <= 100)).all()
    assert (cover < 20).sum() > 50 and (cover > 80).sum() > 50 and len(np.unique(cover)) > 50
    only_20m = [it for it in items if not it["properties"]["lslib:has_10m"]]
    assert len(only_20m) == 146 + 136 and all("B02" not in it["assets"] for it in only_20m)

    loc = "0000280849BAC91C"
    key = f"worldcereal-lpis-s2-patches/S2_{{}}_{loc}_32631_2018-08-01_2019-11-30.nc"
    with xr.open_dataset(sample(key.format("L2A_10m")), mask_and_scale=False) as ds10:
        b04 = ds10["B04"].isel(timestamp=30).values
        when = datetime.fromisoformat(str(ds10["timestamp"].values[30].astype("datetime64[s]"))).replace(tzinfo=UTC)
    with xr.open_dataset(sample(key.format("L2A_20m")), mask_and_scale=False) as ds20:
        scl = ds20["SCL"].isel(timestamp=30).values
    item = next(it for it in items if it["id"] == f"{loc}_{when:%Y%m%dT%H%M%S}")
    with rasterio.open(_local(item["assets"]["B04"]["href"])) as src:
        assert src.dtypes[0] == "uint16" and src.nodata == 0
        np.testing.assert_array_equal(src.read(1), b04)
    with rasterio.open(_local(item["assets"]["SCL"]["href"])) as src:
        np.testing.assert_array_equal(src.read(1), scl)
    expected = 100.0 * np.isin(scl, [3, 8, 9, 10]).sum() / (scl != 0).sum()
    assert item["properties"]["eo:cloud_cover"] == pytest.approx(expected, abs=1e-3)
    head = _local(item["assets"]["B04"]["href"]).read_bytes()
    ifd = struct.unpack("<I", head[4:8])[0]
    tags = {struct.unpack("<H", head[ifd + 2 + 12 * i : ifd + 4 + 12 * i])[0] for i in range(head[ifd])}
    assert ifd == 8 and {322, 323, 324} <= tags  # IFD first and tiled (TileWidth/Length/Offsets): a COG layout

    labels = {it["properties"]["lslib:location"]: it for it in docs["worldcereal-labels"][1]}
    assert labels[loc]["properties"]["start_datetime"] == "2018-08-01T00:00:00Z"
    assert labels[loc]["properties"]["end_datetime"] == "2019-11-30T23:59:59Z"
    lc_key = f"worldcereal-lpis-s2-patches/OUTPUT_POLY-110_10m_{loc}_32631_2018-08-01_2019-11-30.nc"
    with xr.open_dataset(sample(lc_key), mask_and_scale=False) as ds:
        lc = ds["LC"].values
    with rasterio.open(_local(labels[loc]["assets"]["data"]["href"])) as src:
        np.testing.assert_array_equal(src.read(1), lc)
        assert set(np.unique(src.read(1))) <= {0, 11, 13, 60, 99}


def test_rebuild_is_idempotent(catalog: tuple[Path, dict[str, tuple[Path, Path]], float]) -> None:
    out, cat, _ = catalog
    before = {p: p.read_bytes() for pair in cat.values() for p in pair}
    cog = next((out / "files" / "worldcereal").rglob("B04.tif"))
    mtime = cog.stat().st_mtime_ns
    again = build_local_catalog(out, collections=["worldcereal-s2l2a", "zion-landsat-c2-l2"])
    assert list(again) == ["zion-landsat-c2-l2", "worldcereal-s2l2a"]
    assert {p: p.read_bytes() for pair in cat.values() for p in pair} == before
    assert cog.stat().st_mtime_ns == mtime  # converted files are reused
    with pytest.raises(ValueError, match="valid ids"):
        build_local_catalog(out, collections=["sentinel-2-l2a"])


# ------------------------------------------------------------------------------------------- server


def test_client_lists_all_collections(client: Any, server: LocalStacServer) -> None:
    assert server.url.startswith("http://127.0.0.1:") and server.running
    assert {c.id for c in client.get_collections()} == set(COLLECTIONS)
    assert client.get_collection("zion-nlcd-2011").extent.temporal.intervals[0][0].year == 2011


def test_served_stac_passes_the_core_schemas(server: LocalStacServer, tmp_path: Path) -> None:
    """``rustac validate`` against the bundled STAC 1.1 core schemas (the extension schemas need the network)."""
    import urllib.request

    rustac = stac_local_server._rustac_executable()
    items: list[dict[str, Any]] = []
    for cid in COLLECTIONS:
        with urllib.request.urlopen(f"{server.url}/collections/{cid}") as resp:
            col = json.loads(resp.read())
        with urllib.request.urlopen(f"{server.url}/collections/{cid}/items?limit=3") as resp:
            items += json.loads(resp.read())["features"]
        path = tmp_path / f"{cid}.json"
        path.write_text(json.dumps({**col, "stac_extensions": []}))
        run = subprocess.run([rustac, "validate", str(path)], capture_output=True, text=True, timeout=30)
        assert run.returncode == 0, run.stdout + run.stderr
    assert len(items) == 5 * 3 + 4 * 1  # 5 collections with >= 3 items, 4 single-item collections
    features = [{**i, "stac_extensions": []} for i in items]
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    run = subprocess.run([rustac, "validate", str(path)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr
    broken = {**features[0], "properties": {k: v for k, v in features[0]["properties"].items() if k != "datetime"}}
    path.write_text(json.dumps(broken))
    run = subprocess.run([rustac, "validate", str(path)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 1 and "datetime" in run.stdout + run.stderr  # the validator does bite


def test_search_intersects(client: Any) -> None:
    found = list(client.search(collections=["zion-landsat-c2-l2", "zion-nlcd-2011"], intersects=ZION_INSIDE).items())
    assert sorted(i.id for i in found) == ["LC80380342015230LGN00", "nlcd2011-zion"]
    assert list(client.search(collections=["zion-landsat-c2-l2"], intersects=ZION_OUTSIDE).items()) == []


def test_search_datetime_bbox_and_cloud_filter(client: Any, docs: dict[str, tuple[dict[str, Any], list[Any]]]) -> None:
    loc_bbox = next(it["bbox"] for it in docs["worldcereal-s2l2a"][1] if it["id"].startswith("0000280849BAC91C"))
    found = list(
        client.search(collections=["worldcereal-s2l2a"], bbox=loc_bbox, datetime="2019-04-01/2019-06-30").items()
    )
    assert found and {i.properties["lslib:location"] for i in found} == {"0000280849BAC91C"}
    lo, hi = datetime(2019, 4, 1, tzinfo=UTC), datetime(2019, 7, 1, tzinfo=UTC)
    assert all(lo <= i.datetime < hi for i in found)
    clear = [i for i in found if i.properties["eo:cloud_cover"] < 20]  # client-side: rustac has no query/filter
    assert 0 < len(clear) < len(found)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pystac-client: DoesNotConformTo("QUERY")
        queried = client.search(
            collections=["worldcereal-s2l2a"],
            bbox=loc_bbox,
            datetime="2019-04-01/2019-06-30",
            query={"eo:cloud_cover": {"lt": 20}},
        )
        assert list(queried.items()) == []  # rustac's memory backend silently returns nothing for `query`


def test_search_datetime_overlaps_annual_label_ranges(client: Any) -> None:
    both = ["terramesh-esri-lulc", "terramesh-s2l2a"]
    june = client.search(collections=both, datetime="2021-06-01/2021-06-30").items()
    assert [i.id for i in june] == ["282D_485L_3_3-esri-lulc"]  # 2021 label only; its S2 scene is 2021-07-23
    day = client.search(collections=both, datetime="2021-07-23").items()
    assert sorted(i.id for i in day) == ["282D_485L_3_3-esri-lulc", "282D_485L_3_3-s2l2a"]
    nlcd = client.search(collections=["zion-nlcd-2011"], datetime="2011-05-01/2011-05-02").items()
    assert [i.id for i in nlcd] == ["nlcd2011-zion"]


def test_search_pages_through_all_items(client: Any) -> None:
    search = client.search(collections=["worldcereal-s2l2a"], limit=100)
    assert len({i.id for i in search.items()}) == 472


def test_odc_load_landsat_window_matches_rasterio(client: Any) -> None:
    odc_stac = pytest.importorskip("odc.stac")
    from odc.geo.geobox import GeoBox

    items = list(client.search(collections=["zion-landsat-c2-l2"], intersects=ZION_INSIDE).items())
    with rasterio.open(_local(items[0].assets["red"].href)) as src:
        window = Window(500, 600, 128, 128)
        expected = src.read(1, window=window)
        geobox = GeoBox((128, 128), src.window_transform(window), src.crs)
    ds = odc_stac.load(items, bands=["red"], geobox=geobox)
    assert ds["red"].dtype == np.uint16 and ds["red"].shape == (1, 128, 128)
    np.testing.assert_array_equal(ds["red"].values[0], expected)
    assert str(ds.time.values[0])[:10] == "2015-08-18"


def test_odc_load_terramesh_band_and_label(client: Any) -> None:
    odc_stac = pytest.importorskip("odc.stac")
    from odc.geo.geobox import GeoBox

    items = list(client.search(collections=["terramesh-s2l2a"], ids=["282D_485L_3_3-s2l2a"]).items())
    asset = items[0].assets["data"]
    geobox = GeoBox(
        tuple(asset.extra_fields["proj:shape"]), Affine(*asset.extra_fields["proj:transform"]), "EPSG:32722"
    )
    ds = odc_stac.load(items, bands=["data.4"], geobox=geobox)
    with rasterio.open(_local(asset.href)) as src:
        np.testing.assert_array_equal(ds["data.4"].values[0], src.read(4))
    labels = list(client.search(collections=["terramesh-esri-lulc"], ids=["282D_485L_3_3-esri-lulc"]).items())
    lab = odc_stac.load(labels, bands=["data"], geobox=geobox)
    assert set(np.unique(lab["data"].values)) == {1, 2, 6, 9}  # water, trees, bare, rangeland


def test_odc_load_nlcd_onto_the_landsat_grid(client: Any) -> None:
    odc_stac = pytest.importorskip("odc.stac")
    from odc.geo.geobox import GeoBox

    items = list(client.search(collections=["zion-nlcd-2011"], intersects=ZION_INSIDE).items())
    geobox = GeoBox((128, 128), Affine(30.0, 0, 316905.0, 0, -30.0, 4136085.0), "EPSG:32612")
    ds = odc_stac.load(items, bands=["data"], geobox=geobox, resampling="nearest")
    codes = set(np.unique(ds["data"].values).tolist())
    assert codes <= {11, 21, 22, 23, 31, 41, 42, 43, 52, 71, 81, 82, 90, 95} and len(codes) >= 3


def test_stop_frees_the_port_and_ends_the_process(catalog: tuple[Path, dict[str, tuple[Path, Path]], float]) -> None:
    import urllib.request

    subset = {cid: catalog[1][cid] for cid in ("zion-landsat-c2-l2", "zion-nlcd-2011")}
    with serve_local(subset) as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        with urllib.request.urlopen(f"{srv.url}/collections/zion-nlcd-2011/items") as resp:
            assert json.loads(resp.read())["features"][0]["id"] == "nlcd2011-zion"
        pid = srv.pid
        with pytest.raises(subprocess.TimeoutExpired):
            srv.wait(timeout=0.05)  # a foreground server blocks here until it ends
        assert srv in stac_local_server._LIVE  # the atexit safety net knows it
    assert not srv.running and srv not in stac_local_server._LIVE
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", port))  # nobody listens any more
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do (TIME_WAIT may linger)
        s.bind(("127.0.0.1", port))
        s.listen()  # the port can be served again
    srv.stop()  # idempotent


def test_local_stac_reuses_a_built_catalog(catalog: tuple[Path, dict[str, tuple[Path, Path]], float]) -> None:
    import pystac_client

    out, cat, _ = catalog
    t0 = time.perf_counter()
    with local_stac(out) as api:
        assert time.perf_counter() - t0 < 15  # no conversion: the COGs of the first build are reused
        items = list(pystac_client.Client.open(api.url).search(collections=["t29unu-scl"]).items())
        assert [i.id for i in items] == ["S2A_MSIL2A_20221005T115411_R023_T29UNU_20221005T164454-SCL"]
        assert (
            items[0].assets["data"].href
            == json.loads(cat["t29unu-scl"][1].read_text())["features"][0]["assets"]["data"]["href"]
        )


def test_serve_errors(catalog: tuple[Path, dict[str, tuple[Path, Path]], float], tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="build_local_catalog"):
        serve_local(tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        subset = {"zion-nlcd-2011": catalog[1]["zion-nlcd-2011"]}
        with pytest.raises(RuntimeError, match="rustac serve"):
            serve_local(subset, port=port, timeout=10)
