"""LAS recipes: each subset of the weak-label dataset, as data (``data_manifests/las/*.yaml``).

A recipe pairs an imagery collection with a label product on a STAC API, and says how chips are cut
(size, GSD, CRS), filtered (nodata, cloud, label coverage, single-class quota) and where the points
come from (sampling design). The builder (:mod:`lslib.data.las.cut`) reads nothing else, so a new subset
is a new YAML file. ``stac_url: local`` means the loopback STAC API over the mirror
(:func:`lslib.data.local_stac.catalog.local_stac`), given to the builder at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lslib.data.fetch import manifest_dir
from lslib.yaml_config import from_mapping, load_yaml

Resampling = Literal["nearest", "mode", "bilinear", "average"]


@dataclass(frozen=True)
class MaskSpec:
    """Per-pixel cloud/invalid mask from a band of the image item.

    Attributes:
        band: odc-stac band name of the mask (e.g. ``"SCL"``, ``"qa_pixel"``).
        kind: ``"classes"`` (pixel value in ``invalid``) or ``"bits"`` (any of the bit positions in
            ``invalid`` set, e.g. Landsat QA_PIXEL bits 1-4).
        invalid: class values or bit positions that mark clouds/shadows/cirrus.
        nodata: class values that mark no data (counted as nodata, not cloud).
    """

    band: str
    kind: Literal["classes", "bits"] = "classes"
    invalid: tuple[int, ...] = ()
    nodata: tuple[int, ...] = ()


@dataclass(frozen=True)
class ImageSpec:
    """The imagery side of a subset.

    Attributes:
        collection: STAC collection id.
        sensor: band-table key of :mod:`lslib.data.bands` (wavelengths come from there).
        bands: ``{lslib band name: odc-stac band name}`` (an asset key, or ``"asset.N"`` for band N
            of a multi-band asset), in output order.
        datetime: RFC 3339 interval searched, e.g. ``"2021-03-01/2021-10-31"``.
        max_cloud: upper limit of the item's ``eo:cloud_cover`` (%); None for SAR.
        scale, offset: physical value = DN * scale + offset (reflectance, dB, ...).
        s2_baseline_offset: Sentinel-2 processing baseline >= 04.00 adds 1000 DN: subtract it
            (read from the item's ``s2:processing_baseline``).
        to_db: the values are linear backscatter: convert to dB.
        nodata: DN marking no data (None: only NaN).
        mask: optional cloud mask.
        resampling: when the chip grid differs from the item's grid.
        query: item property filters in the STAC query-extension form, ``{property: {op: value}}``
            (see :func:`lslib.data.las.search.matches_query`), e.g. ``{platform: {in: [landsat-8,
            landsat-9]}}``; sent to APIs that support it and always applied to the items found.
        candidates: items tried, best first, before a point is rejected for cloud, nodata, a
            missing band or implausible values (1: only the best item).
        dtype: data type of multi-band assets that list ``eo:bands`` but no ``raster:bands``
            (Planetary Computer's NAIP ``image``); None reads it from the file.
    """

    collection: str
    sensor: str
    bands: dict[str, str]
    datetime: str
    max_cloud: float | None = None
    scale: float = 1.0
    offset: float = 0.0
    s2_baseline_offset: bool = False
    to_db: bool = False
    nodata: float | None = 0
    mask: MaskSpec | None = None
    resampling: Resampling = "bilinear"
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    candidates: int = 1
    dtype: str | None = None


@dataclass(frozen=True)
class LabelSpec:
    """The weak-label product: a categorical raster with a taxonomy of :mod:`lslib.taxonomy`.

    ``same_item`` takes the label from the image item itself (e.g. Sentinel-2 SCL).
    ``resampling``: ``nearest`` for products at the chip GSD or finer-to-equal, ``mode`` for
    products finer than the chip (majority of the covered pixels).
    ``query``: item property filters, as :attr:`ImageSpec.query` (e.g. CDL's
    ``{usda_cdl:type: {eq: cropland}}``).
    """

    collection: str
    band: str
    taxonomy: str
    datetime: str | None = None
    resampling: Resampling = "nearest"
    same_item: bool = False
    query: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ChipSpec:
    """Chip geometry: ``size`` x ``size`` pixels of ``gsd`` metres.

    ``crs="native"`` keeps the image item's CRS and snaps the chip to its pixel grid (no resampling
    of the image); ``"utm"`` uses the UTM zone of the point.
    """

    size: int = 128
    gsd: float = 10.0
    crs: Literal["native", "utm"] = "native"


@dataclass(frozen=True)
class QualitySpec:
    """Chip filters. Fractions are of the chip's pixels.

    ``single_class_quota``: share of points allowed to keep a chip with one class only; chosen
    deterministically from the point id, so parallel and resumed builds agree.
    """

    max_nodata_fraction: float = 0.05
    max_cloud_fraction: float = 0.10
    min_labelled_fraction: float = 0.90
    single_class_quota: float = 0.10


@dataclass(frozen=True)
class SamplingSpec:
    """Where points come from (see :mod:`lslib.data.las.sampling`).

    ``strategy``: ``"global"`` (land, stratified by continent x climate zone, optional lon/lat
    ``region``), ``"label"`` (class-frequency strata inside the label items found on the STAC API),
    or ``"footprints"`` (uniform inside the label items' footprints).

    ``within_label``: with ``global``, draw points only where one label item (of ``label.collection``, in
    ``label.datetime``, passing ``label.query``) holds the whole chip: inside the items' footprints, each
    shrunk by half the chip's diagonal (for tiled products such as CDL, LCMAP, NRCan, Chesapeake,
    WorldCover: no land points without a label, no chip across a tile edge). ``footprints`` always
    samples inside such items.
    """

    strategy: Literal["global", "label", "footprints"] = "global"
    n: int = 1000
    seed: int = 0
    min_distance_km: float = 5.0
    region: tuple[float, float, float, float] | None = None
    allocation: Literal["equal", "proportional"] = "equal"
    within_label: bool = False


@dataclass(frozen=True)
class Recipe:
    """One LAS subset. See ``data_manifests/las/README.md`` for the field reference."""

    name: str
    title: str
    stac_url: str
    licence: str
    attribution: str
    image: ImageSpec
    label: LabelSpec
    chip: ChipSpec = field(default_factory=ChipSpec)
    quality: QualitySpec = field(default_factory=QualitySpec)
    sampling: SamplingSpec = field(default_factory=SamplingSpec)
    sign: str | None = None
    description: str = ""

    @property
    def is_local(self) -> bool:
        """Whether the recipe reads the loopback STAC catalog (``stac_url: local``)."""
        return self.stac_url == "local"


def recipe_dir() -> Path:
    """The folder of the LAS recipes, ``data_manifests/las/``."""
    return manifest_dir() / "las"


def list_recipes() -> list[str]:
    """Names of the recipes in ``data_manifests/las/``."""
    return sorted(p.stem for p in recipe_dir().glob("*.yaml"))


def _build(cls: type[Any], doc: Any, where: str) -> Any:
    return from_mapping(cls, doc, where)


def parse_recipe(doc: dict[str, Any], *, where: str = "recipe") -> Recipe:
    """Validate a recipe mapping (as read from YAML) and build a :class:`Recipe`."""
    from lslib.data.bands import sensor_bands
    from lslib.taxonomy import get_taxonomy

    doc = dict(doc)
    image = dict(doc.pop("image", {}))
    mask = image.pop("mask", None)
    if mask is not None:
        mask = {k: tuple(v) if k in ("invalid", "nodata") else v for k, v in dict(mask).items()}
        mask = _build(MaskSpec, mask, f"{where}.image.mask")
    image_spec = _build(ImageSpec, {**image, "mask": mask}, f"{where}.image")
    label_spec = _build(LabelSpec, doc.pop("label", {}), f"{where}.label")
    chip = _build(ChipSpec, doc.pop("chip", {}), f"{where}.chip")
    quality = _build(QualitySpec, doc.pop("quality", {}), f"{where}.quality")
    sampling_doc = dict(doc.pop("sampling", {}))
    if sampling_doc.get("region") is not None:
        sampling_doc["region"] = tuple(float(v) for v in sampling_doc["region"])
    sampling = _build(SamplingSpec, sampling_doc, f"{where}.sampling")
    recipe: Recipe = _build(
        Recipe,
        {**doc, "image": image_spec, "label": label_spec, "chip": chip, "quality": quality, "sampling": sampling},
        where,
    )
    known = {b.name for b in sensor_bands(image_spec.sensor)}
    bad = [b for b in image_spec.bands if b not in known]
    if bad:
        raise ValueError(f"{where}.image.bands: {bad} are not {image_spec.sensor} bands; valid: {sorted(known)}")
    get_taxonomy(label_spec.taxonomy)  # unknown taxonomy -> ValueError with suggestions
    for part, spec in (("image", image_spec), ("label", label_spec)):
        _check_query(spec.query, f"{where}.{part}.query")
    if sampling.within_label and (sampling.strategy != "global" or label_spec.same_item):
        raise ValueError(
            f"{where}.sampling.within_label needs strategy 'global' and a label collection of its own "
            f"(strategy {sampling.strategy!r}, same_item {label_spec.same_item}); 'footprints' and 'label' "
            "sample inside the label items already"
        )
    if image_spec.candidates < 1:
        raise ValueError(f"{where}.image.candidates must be >= 1, got {image_spec.candidates}")
    if chip.size < 8 or chip.gsd <= 0:
        raise ValueError(f"{where}.chip: size must be >= 8 pixels and gsd > 0 metres, got {chip}")
    for name in ("max_nodata_fraction", "max_cloud_fraction", "min_labelled_fraction", "single_class_quota"):
        value = getattr(quality, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{where}.quality.{name} must be a fraction in [0, 1], got {value}")
    return recipe


QUERY_OPS = ("eq", "neq", "in", "lt", "lte", "gt", "gte", "contains")


def _check_query(query: Any, where: str) -> None:
    if not isinstance(query, dict):
        raise ValueError(f"{where} must be a mapping {{property: {{op: value}}}}, got {query!r}")
    for prop, ops in query.items():
        if not isinstance(ops, dict) or not ops:
            raise ValueError(f"{where}.{prop} must be a mapping {{op: value}}, got {ops!r}")
        bad = [op for op in ops if op not in QUERY_OPS]
        if bad:
            raise ValueError(f"{where}.{prop}: unknown operator(s) {bad}; valid: {', '.join(QUERY_OPS)}")
        for op in ("in", "contains"):
            if op in ops and not isinstance(ops[op], list):
                raise ValueError(f"{where}.{prop}.{op} must be a list, got {ops[op]!r}")


def load_recipe(name_or_path: str | Path) -> Recipe:
    """Load a recipe by name (``data_manifests/las/<name>.yaml``) or from a YAML path.

    Raises:
        ValueError: unknown name (lists the known ones) or an invalid recipe (says which field).
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = recipe_dir() / f"{name_or_path}.yaml"
        if not path.exists():
            raise ValueError(f"unknown LAS subset {name_or_path!r}; known: {', '.join(list_recipes())}")
    if not path.exists():
        raise ValueError(f"recipe file {path} does not exist")
    doc = load_yaml(path, what="LAS recipe")  # bounded, plain YAML only; errors name the file
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return parse_recipe(doc, where=path.name)
