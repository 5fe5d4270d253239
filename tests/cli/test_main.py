"""The ``lslib`` command line: data list/fetch, demo, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lslib.cli.main import main


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert "lslib 0.1.0" in capsys.readouterr().out


def test_python_dash_m_lslib() -> None:
    out = subprocess.run([sys.executable, "-m", "lslib", "data", "list"], capture_output=True, text=True, check=True)
    assert "terramesh-examples-s2-esri-lulc" in out.stdout and "licence" in out.stdout


def test_data_list_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list", "landsat8-nlcd2011-zion", "--files"]) == 0
    out = capsys.readouterr().out
    assert "landsat8-nlcd2011-zion/nlcd2011.tif" in out and "EPSG:6367" in out


def test_data_fetch_dataset(sample: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "fetch", "-q", "esa-worldcover-tile-N00E006"]) == 0
    assert "2 files verified" in capsys.readouterr().out


def test_errors_are_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "fetch", "no-such-dataset"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lslib: error:") and "lslib data list" in err
    assert main(["data", "list", "nope"]) == 2
    assert "known" in capsys.readouterr().err


def test_demo_writes_figures_and_summary(sample: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["demo", "--out", str(tmp_path / "demo"), "--sites", "282D_485L_3_3", "637U_59R_1_3", "-q", "--no-model"])
        == 0
    )
    out = capsys.readouterr().out
    assert str(tmp_path / "demo") in out
    assert (tmp_path / "demo" / "282D_485L_3_3.png").stat().st_size > 10_000
    assert (tmp_path / "demo" / "637U_59R_1_3.png").exists()
    summary = (tmp_path / "demo" / "summary.md").read_text()
    assert "EPSG:32722" in summary and "water" in summary.lower()
    assert main(["demo", "--out", str(tmp_path / "d2"), "--sites", "XYZ", "--no-model"]) == 2


def test_las_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["las", "list"]) == 0
    out = capsys.readouterr().out
    assert "s2l2a-worldcover" in out and "mini-zion-landsat-nlcd" in out and "loopback" in out


def test_las_sample_and_report_errors(sample: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["las", "sample", "--subset", "mini-zion-landsat-nlcd", "--n", "6", "--out", str(tmp_path), "-q"]) == 0
    folder = tmp_path / "mini-zion-landsat-nlcd"
    assert (folder / "points.parquet").exists() and (folder / "points.geojson").exists()
    assert (folder / "points.png").stat().st_size > 10_000
    assert main(["las", "sample", "--subset", "mini-zion-landsat-nlcd", "--out", str(tmp_path), "-q"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["las", "report", "--out", str(tmp_path / "nothing")]) == 2
    assert "lslib las build" in capsys.readouterr().err
    assert main(["las", "build", "--subset", "mini-nope", "--out", str(tmp_path)]) == 2
    assert "unknown LAS subset" in capsys.readouterr().err
