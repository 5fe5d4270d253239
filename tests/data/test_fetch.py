"""lslib.data.fetch: manifests, cache -> mirror -> origin, hash verification, clear errors."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import shutil
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lslib.data import fetch as F

REQUIRED = [
    "terramesh-examples-s2-esri-lulc",
    "landsat8-nlcd2011-zion",
    "worldcereal-lpis-s2-patches",
    "s2-l2a-scl-T29UNU-ireland",
    "bigearthnet-samples",
    "esa-worldcover-tile-N00E006",
]


def test_manifests_cover_the_shared_samples() -> None:
    manifests = F.load_manifests()
    for name in REQUIRED:
        assert name in manifests, name
        m = manifests[name]
        assert m.licence and m.attribution and m.title
        assert m.files
        for e in m.files.values():
            assert len(e.sha256) == 64 and e.size > 0
            assert e.origin["url"].startswith("https://")
            if "member" in e.origin:
                assert len(e.origin["archive_sha256"]) == 64
            if e.path.endswith((".tif", ".jp2")):
                assert e.crs and e.crs.startswith("EPSG:") and e.bounds and len(e.bounds) == 4
    terramesh = manifests["terramesh-examples-s2-esri-lulc"]
    assert len([p for p in terramesh.files if p.startswith("LULC/")]) == 5
    assert terramesh.taxonomy == "terramesh_lulc"
    assert terramesh.files["LULC/282D_485L_3_3.tif"].crs == "EPSG:32722"
    bigearthnet_s2 = [p for p in manifests["bigearthnet-samples"].files if p.startswith("BigEarthNet-S2-Example/")]
    assert len(bigearthnet_s2) == 6 * 13  # 12 bands + labels json per patch


def test_manifest_covers_every_mirror_file() -> None:
    mirror = F.mirror_dir()
    if mirror is None or not mirror.is_dir():
        pytest.skip("no mirror")
    manifests = F.load_manifests()
    for name, m in manifests.items():
        on_disk = {
            p.relative_to(mirror / name).as_posix()
            for p in (mirror / name).rglob("*")
            if p.is_file() and p.name != "SOURCE.md"
        }
        assert on_disk == set(m.files), name


@pytest.mark.parametrize("dataset", sorted(F.load_manifests()))
def test_fetch_every_entry_from_mirror_verifies_hash(dataset: str, sample: object) -> None:
    for entry in F.load_manifests()[dataset].files.values():
        path = F.fetch(entry.key)
        assert path == F.cache_dir() / dataset / entry.path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256
        assert F.status(entry) == "cached"


def test_fetch_dir_gives_one_folder(sample_dir: object) -> None:
    folder = F.fetch_dir("terramesh-examples-s2-esri-lulc/LULC")
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "282D_485L_3_3.tif",
        "38D_378R_2_3.tif",
        "433D_629L_3_1.tif",
        "609U_541L_3_0.tif",
        "637U_59R_1_3.tif",
    ]


def test_unknown_keys_are_clear() -> None:
    with pytest.raises(KeyError, match="unknown dataset 'nope'"):
        F.fetch("nope/file.tif")
    with pytest.raises(KeyError, match="Did you mean"):
        F.fetch("terramesh-examples-s2-esri-lulc/S2L2A/x/282D_485L_3_3.tif")
    with pytest.raises(KeyError, match="no manifest file matches"):
        F.fetch_many("terramesh-examples-s2-esri-lulc/NOPE/*")


KEY = "landsat8-nlcd2011-zion/nlcd.tif"


def test_missing_mirror_offline_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSLIB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LSLIB_DATA_MIRROR", raising=False)
    with pytest.raises(F.DataNotFoundError) as err:
        F.fetch(KEY, offline=True)
    msg = str(err.value)
    assert KEY in msg and "LSLIB_DATA_MIRROR" in msg and "offline" in msg and str(tmp_path / "cache") in msg
    monkeypatch.setenv("LSLIB_DATA_MIRROR", str(tmp_path / "empty-mirror"))
    with pytest.raises(F.DataNotFoundError, match="empty-mirror"):
        F.fetch(KEY, offline=True)


def _copy_mirror_file(tmp_path: Path, key: str) -> Path:
    src = F.mirror_dir()
    if src is None:
        pytest.skip("no mirror")
    dst = tmp_path / "mirror" / key
    dst.parent.mkdir(parents=True)
    shutil.copyfile(src / key, dst)
    return dst


def test_corrupt_mirror_file_is_rejected_never_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = _copy_mirror_file(tmp_path, KEY)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    monkeypatch.setenv("LSLIB_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("LSLIB_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(F.HashMismatchError, match="differs, not used"):
        F.fetch(KEY, offline=True)
    assert not (tmp_path / "cache" / KEY).exists()
    assert copy.read_bytes() == bytes(data)  # the mirror is never modified


def test_corrupt_cache_copy_is_replaced_from_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _copy_mirror_file(tmp_path, KEY)
    monkeypatch.setenv("LSLIB_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("LSLIB_CACHE_DIR", str(tmp_path / "cache"))
    bad = tmp_path / "cache" / KEY
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"truncated")
    path = F.fetch(KEY, offline=True)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == F.get_entry(KEY).sha256


# --- origin downloads, served from loopback only -------------------------------------------------------


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def _manifest(tmp_path: Path, files: list[dict[str, object]]) -> None:
    d = tmp_path / "manifests"
    d.mkdir(exist_ok=True)
    doc = {"dataset": "toy", "title": "toy", "licence": "CC0", "attribution": "me", "taxonomy": None, "files": files}
    (d / "toy.yaml").write_text(yaml.safe_dump(doc))


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_origin_download_is_hash_checked(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, root = server
    good, other = b"real sample bytes" * 100, b"something else" * 100
    (root / "a.bin").write_bytes(good)
    (root / "b.bin").write_bytes(other)
    _manifest(
        tmp_path,
        [
            {"path": "dir/a.bin", "sha256": _sha(good), "size": len(good), "origin": {"url": f"{url}/a.bin"}},
            {"path": "dir/b.bin", "sha256": _sha(good), "size": len(good), "origin": {"url": f"{url}/b.bin"}},
            {"path": "dir/c.bin", "sha256": _sha(good), "size": len(good), "origin": {"url": f"{url}/missing.bin"}},
        ],
    )
    monkeypatch.setenv("LSLIB_MANIFEST_DIR", str(tmp_path / "manifests"))
    monkeypatch.setenv("LSLIB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LSLIB_DATA_MIRROR", raising=False)
    with pytest.raises(F.DataNotFoundError, match="offline"):
        F.fetch("toy/dir/a.bin", offline=True)
    path = F.fetch("toy/dir/a.bin", offline=False)
    assert path.read_bytes() == good and path == tmp_path / "cache" / "toy" / "dir" / "a.bin"
    with pytest.raises(F.HashMismatchError):
        F.fetch("toy/dir/b.bin", offline=False)
    assert not (tmp_path / "cache" / "toy" / "dir" / "b.bin").exists()
    with pytest.raises(F.DataNotFoundError, match=r"download from .*missing\.bin failed"):
        F.fetch("toy/dir/c.bin", offline=False)


def test_origin_inside_a_wheel_and_tarball(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, root = server
    payload = b"band data" * 500
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w:bz2") as t:
        info = tarfile.TarInfo("Example/patch/B02.tif")
        info.size = len(payload)
        t.addfile(info, io.BytesIO(payload))
    whl = io.BytesIO()
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("pkg/Example.tar.bz2", tar_buf.getvalue())
        z.writestr("pkg/plain.txt", b"plain member")
    (root / "pkg-1.0-py3-none-any.whl").write_bytes(whl.getvalue())
    origin = {"url": f"{url}/pkg-1.0-py3-none-any.whl", "archive_sha256": _sha(whl.getvalue())}
    _manifest(
        tmp_path,
        [
            {
                "path": "Example/patch/B02.tif",
                "sha256": _sha(payload),
                "size": len(payload),
                "origin": {**origin, "member": "pkg/Example.tar.bz2", "inner_member": "Example/patch/B02.tif"},
            },
            {
                "path": "plain.txt",
                "sha256": _sha(b"plain member"),
                "size": 12,
                "origin": {**origin, "member": "pkg/plain.txt"},
            },
        ],
    )
    monkeypatch.setenv("LSLIB_MANIFEST_DIR", str(tmp_path / "manifests"))
    monkeypatch.setenv("LSLIB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LSLIB_DATA_MIRROR", raising=False)
    assert F.fetch("toy/Example/patch/B02.tif", offline=False).read_bytes() == payload
    assert F.fetch("toy/plain.txt", offline=False).read_bytes() == b"plain member"
