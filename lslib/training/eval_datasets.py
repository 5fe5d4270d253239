"""Evaluation datasets from folders of image/label rasters: your own, or a published benchmark's layout.

:class:`RasterPairDataset` pairs image and label files by name and yields the item dict the evaluation
uses (as :class:`lslib.training.dataset.LASDataset` does, without sampled prompts). The factories
:func:`loveda`, :func:`openearthmap`, :func:`chesapeake` and :func:`dfc2020` know where each benchmark
keeps its files, its sensor, its scaling and its label codes; they download nothing (get the data
from the benchmark's site first).
"""

from __future__ import annotations

import glob
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
import torch
from rasterio.errors import NotGeoreferencedWarning
from torch.utils.data import Dataset

from lslib.data import bands as _bands
from lslib.taxonomy import get_taxonomy

__all__ = ["DFC2020_TO_WORLDCOVER", "RasterPairDataset", "chesapeake", "dfc2020", "loveda", "openearthmap"]

#: DFC2020 (simplified IGBP, Robinson et al. 2021) class -> ESA WorldCover code. Savanna (10-30 % tree
#: canopy) becomes "Tree cover" because WorldCover's tree class starts at 10 % canopy cover.
DFC2020_TO_WORLDCOVER: dict[int, int] = {1: 10, 2: 20, 3: 10, 4: 30, 5: 90, 6: 40, 7: 50, 8: 70, 9: 60, 10: 80}


def _short(items: Sequence[object], limit: int = 5) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


@contextmanager
def _quiet() -> Iterator[None]:
    """Benchmark PNGs (LoveDA) carry no georeference: their items have ``crs`` None, without a warning per read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        yield


def _stem(path: Path) -> str:
    return path.stem


def _files(spec: Sequence[str | Path] | str, what: str) -> list[Path]:
    if isinstance(spec, str):
        found = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        if not found:
            raise FileNotFoundError(f"no {what} files match {spec!r}")
        return found
    paths = [Path(p) for p in spec]
    if not paths:
        raise ValueError(f"no {what} files given")
    if missing := [str(p) for p in paths if not p.is_file()]:
        raise FileNotFoundError(f"{len(missing)} {what} file(s) do not exist: {_short(missing, 5)}")
    return paths


def _by_key(paths: list[Path], key: Callable[[Path], str], what: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in paths:
        k = key(p)
        if k in out:
            raise ValueError(f"{what} files {out[k]} and {p} have the same pairing key {k!r}")
        out[k] = p
    return out


class RasterPairDataset(Dataset[dict[str, Any]]):
    """Image and label rasters paired by file stem, read with rasterio.

    Args:
        images, labels: the files, as a list of paths or a glob pattern (``**`` recurses).
        taxonomy: the product of the labels (after ``label_map``), e.g. ``"loveda"``.
        sensor, band_names: where the wavelengths come from (:mod:`lslib.data.bands`): ``band_names``
            (canonical names or aliases) of ``sensor``, in file order; default all of the sensor's bands.
            Without ``sensor`` the images must carry lslib's band descriptions and ``wavelength_um`` tags
            (:func:`lslib.data.readers.write_geotiff`); otherwise it is an error.
        scale: physical value = DN * ``scale`` (e.g. 1e-4 for Sentinel-2 L2A reflectance, 1/255 for 8-bit RGB).
        label_map: ``{raw value: taxonomy code}``; raw values not in it become the taxonomy's nodata.
        image_nodata: image value meaning no data (-> NaN); default the file's nodata.
        pair_key: the pairing key of a file (default its stem); e.g. strip ``"_lc"`` for ``x_lc.tif``.

    Items: ``image`` (C, H, W) float32 physical units, NaN nodata; ``wavelengths`` (C,) float32 µm;
    ``band_names``; ``label`` (H, W) int64 codes; ``valid`` (H, W) bool (a class code and some finite band);
    ``taxonomy``; ``point_id`` (the pairing key); ``crs`` (WKT or None) and ``transform`` (6 floats, GDAL order).

    Raises:
        FileNotFoundError / ValueError: no files, files without a partner (listed), an unknown sensor or
            band layout, a band count that does not match the band names.
    """

    def __init__(
        self,
        *,
        images: Sequence[str | Path] | str,
        labels: Sequence[str | Path] | str,
        taxonomy: str,
        sensor: str | None = None,
        band_names: Sequence[str] | None = None,
        scale: float | None = None,
        label_map: Mapping[int, int] | None = None,
        image_nodata: float | None = None,
        pair_key: Callable[[Path], str] = _stem,
    ) -> None:
        self.tax = get_taxonomy(taxonomy)
        imgs = _by_key(_files(images, "image"), pair_key, "image")
        labs = _by_key(_files(labels, "label"), pair_key, "label")
        lonely_img, lonely_lab = sorted(set(imgs) - set(labs)), sorted(set(labs) - set(imgs))
        if lonely_img or lonely_lab:
            parts = [f"{len(lonely_img)} image(s) without a label: {_short([str(imgs[k]) for k in lonely_img], 5)}"]
            parts += [f"{len(lonely_lab)} label(s) without an image: {_short([str(labs[k]) for k in lonely_lab], 5)}"]
            raise ValueError("unpaired files (paired by stem, see pair_key): " + "; ".join(parts))
        self.keys = sorted(imgs)
        self.pairs = [(imgs[k], labs[k]) for k in self.keys]
        self.scale, self.image_nodata = scale, image_nodata
        self.label_map = None if label_map is None else {int(k): int(v) for k, v in label_map.items()}
        if self.label_map and (bad := sorted(set(self.label_map.values()) - set(self.tax.codes))):
            raise ValueError(f"label_map targets {bad} are not {self.tax.key} codes: {_short(self.tax.codes, 30)}")
        with _quiet(), rasterio.open(self.pairs[0][0]) as src:
            count, descriptions, tags = src.count, src.descriptions, [src.tags(i + 1) for i in range(src.count)]
        self.band_names, self.wavelengths = self._bands(sensor, band_names, count, descriptions, tags)

    def _bands(
        self,
        sensor: str | None,
        names: Sequence[str] | None,
        count: int,
        descriptions: Sequence[str | None],
        tags: list[dict[str, str]],
    ) -> tuple[list[str], np.ndarray]:
        first = self.pairs[0][0]
        if sensor is None:
            if names is None and all(d for d in descriptions) and all("wavelength_um" in t for t in tags):
                return [str(d) for d in descriptions], np.array([float(t["wavelength_um"]) for t in tags])
            raise ValueError(
                f"cannot tell the bands of {first} ({count} bands, no lslib band tags): pass sensor= (one of "
                f"{', '.join(_bands.SENSORS)}) and band_names= in file order"
            )
        infos = [_bands.band_info(sensor, n) for n in names] if names is not None else _bands.sensor_bands(sensor)
        if len(infos) != count:
            raise ValueError(
                f"{first} has {count} bands but {len(infos)} band names are given for {sensor!r} "
                f"({[b.name for b in infos]}): pass band_names= in file order"
            )
        return [b.name for b in infos], np.array([b.wavelength_um for b in infos])

    def __len__(self) -> int:
        return len(self.pairs)

    def __repr__(self) -> str:
        return f"RasterPairDataset({len(self)} pairs, taxonomy={self.tax.key!r}, bands={self.band_names})"

    def __getitem__(self, index: int) -> dict[str, Any]:
        img_path, lab_path = self.pairs[index]
        with _quiet(), rasterio.open(img_path) as src:
            image = src.read(out_dtype="float32")
            nodata = self.image_nodata if self.image_nodata is not None else src.nodata
            crs, transform = (src.crs.to_wkt() if src.crs else None), tuple(src.transform)[:6]
        with _quiet(), rasterio.open(lab_path) as src:
            raw = src.read(1).astype(np.int64)
        if image.shape[0] != len(self.band_names):
            raise ValueError(f"{img_path} has {image.shape[0]} bands, the dataset expects {self.band_names}")
        if raw.shape != image.shape[1:]:
            raise ValueError(f"{lab_path} is {raw.shape}, its image {img_path} {image.shape[1:]} (no resampling)")
        if nodata is not None and not np.isnan(nodata):
            image[image == nodata] = np.nan
        if self.scale is not None:
            image *= np.float32(self.scale)
        label = raw
        if self.label_map is not None:
            fill = self.tax.nodata if self.tax.nodata is not None else -1
            table = np.full(max([int(raw.max()), *self.label_map]) + 1, fill, dtype=np.int64)
            for k, v in self.label_map.items():
                if k >= 0:
                    table[k] = v
            label = np.where(raw >= 0, table[raw.clip(0)], fill)
        valid = np.isin(label, np.asarray(self.tax.codes)) & np.isfinite(image).any(axis=0)
        return {
            "image": torch.from_numpy(image),
            "wavelengths": torch.as_tensor(self.wavelengths, dtype=torch.float32),
            "band_names": list(self.band_names),
            "label": torch.from_numpy(label),
            "valid": torch.from_numpy(valid),
            "taxonomy": self.tax.key,
            "point_id": self.keys[index],
            "crs": crs,
            "transform": transform,
        }


def _child(folder: Path, name: str) -> Path:
    """``folder/name``, matching the name case-insensitively (``Images_png`` or ``images_png``)."""
    if (folder / name).is_dir():
        return folder / name
    if folder.is_dir():
        for p in folder.iterdir():
            if p.is_dir() and p.name.lower() == name.lower():
                return p
    raise FileNotFoundError(f"{folder / name} not found (layout described in the docstring)")


def loveda(
    root: str | Path, split: Literal["Train", "Val"] = "Val", domain: Literal["Urban", "Rural"] = "Urban"
) -> RasterPairDataset:
    """LoveDA (Wang et al. 2021, https://github.com/Junjue-Wang/LoveDA), 0.3 m RGB, 1024² PNG tiles.

    Layout (the official zips, unpacked): ``root/{Train,Val}/{Urban,Rural}/images_png/<n>.png`` and
    ``.../masks_png/<n>.png`` (folder names matched case-insensitively). Masks: 0 no data, 1 background,
    2 building, 3 road, 4 water, 5 barren, 6 forest, 7 agriculture = taxonomy ``loveda`` as is. Images are
    8-bit RGB, scaled by 1/255. The Test split has no public masks.
    """
    folder = _child(_child(Path(root), split), domain)
    return RasterPairDataset(
        images=str(_child(folder, "images_png") / "*.png"),
        labels=str(_child(folder, "masks_png") / "*.png"),
        taxonomy="loveda",
        sensor="rgb",
        band_names=("red", "green", "blue"),
        scale=1 / 255,
    )


def openearthmap(root: str | Path, split: Literal["train", "val", "test"] | None = "val") -> RasterPairDataset:
    """OpenEarthMap (Xia et al. 2023, https://open-earth-map.org), 0.25-0.5 m RGB GeoTIFFs from 97 regions.

    Layout: ``root/<region>/images/<region>_<n>.tif`` and ``root/<region>/labels/<region>_<n>.tif``, with
    the split's file names listed in ``root/{train,val,test}.txt`` (``split=None``: every pair). Labels:
    0 unknown (nodata), 1 bareland, 2 rangeland, 3 developed space, 4 road, 5 tree, 6 water, 7 agriculture
    land, 8 building = taxonomy ``openearthmap`` as is. 8-bit RGB, scaled by 1/255.
    """
    root = Path(root)
    images = sorted(root.glob("*/images/*.tif"))
    if split is not None:
        listing = root / f"{split}.txt"
        if not listing.is_file():
            raise FileNotFoundError(f"{listing} not found: OpenEarthMap lists each split's files there")
        wanted = {line.strip() for line in listing.read_text().splitlines() if line.strip()}
        images = [p for p in images if p.name in wanted]
    if not images:
        raise FileNotFoundError(f"no OpenEarthMap images for split {split!r} under {root}/<region>/images/")
    labels = [p.parent.parent / "labels" / p.name for p in images]
    return RasterPairDataset(
        images=images,
        labels=labels,
        taxonomy="openearthmap",
        sensor="rgb",
        band_names=("red", "green", "blue"),
        scale=1 / 255,
    )


def _strip(*suffixes: str) -> Callable[[Path], str]:
    def key(path: Path) -> str:
        stem = path.stem
        for s in suffixes:
            stem = stem.removesuffix(s)
        return stem

    return key


def chesapeake(
    root: str | Path, state: Literal["de", "md", "ny", "pa", "va", "wv"], split: str = "test"
) -> RasterPairDataset:
    """Chesapeake Land Cover (Robinson et al. 2019, https://lila.science/datasets/chesapeakelandcover).

    Layout: ``root/<state>_1m_2013_extended-debuffered-<split>_tiles/<tile>_naip-new.tif`` (NAIP R, G, B,
    NIR, 8-bit, 1 m; scaled by 1/255) and ``<tile>_lc.tif`` (1 water, 2 tree canopy / forest, 3 low
    vegetation / field, 4 barren, 5 impervious (other), 6 impervious (road), 15 no data = taxonomy
    ``chesapeake7`` as is). ``split``: ``train``, ``val`` or ``test``.
    """
    folder = Path(root) / f"{state}_1m_2013_extended-debuffered-{split}_tiles"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} not found (layout described in the docstring)")
    return RasterPairDataset(
        images=str(folder / "*_naip-new.tif"),
        labels=str(folder / "*_lc.tif"),
        taxonomy="chesapeake7",
        sensor="naip",
        band_names=("R", "G", "B", "N"),
        scale=1 / 255,
        pair_key=_strip("_naip-new", "_lc"),
    )


def _dfc_key(path: Path) -> str:
    return path.stem.replace("_s2_", "_").replace("_dfc_", "_")


def dfc2020(root: str | Path, split: Literal["validation", "test"] = "test") -> RasterPairDataset:
    """IEEE GRSS Data Fusion Contest 2020 (SEN12MS-style patches, 256² @ 10 m), labels in ESA WorldCover codes.

    Layout: ``root/**/ROIs0000_<split>_s2_<n>_p<m>.tif`` (13-band Sentinel-2 L1C DN, scaled by 1e-4) and
    ``root/**/ROIs0000_<split>_dfc_<n>_p<m>.tif`` (e.g. folders ``ROIs0000_test/s2_0`` and ``dfc_0``),
    paired by the name without ``_s2_``/``_dfc_``. DFC classes (1 forest, 2 shrubland, 3 savanna, 4
    grassland, 5 wetlands, 6 croplands, 7 urban/built-up, 8 snow/ice, 9 barren, 10 water) have no
    taxonomy of their own here: they are mapped to ``esa_worldcover`` by :data:`DFC2020_TO_WORLDCOVER`
    (savanna -> tree cover, see there); other values are nodata.
    """
    root = Path(root)
    return RasterPairDataset(
        images=str(root / "**" / f"*_{split}_s2_*.tif"),
        labels=str(root / "**" / f"*_{split}_dfc_*.tif"),
        taxonomy="esa_worldcover",
        sensor="sentinel2_l1c",
        scale=1e-4,
        label_map=DFC2020_TO_WORLDCOVER,
        pair_key=_dfc_key,
    )
