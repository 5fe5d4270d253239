"""What is wrong with an image input that lslib cannot map, said so with the fix.

:func:`input_path` turns a source into the path of an existing file or folder (or explains a missing path, a
file name that is not UTF-8, a symbolic link loop, a dangling link); the other functions build the errors for
image files lslib reads but cannot map as they are: metadata that is not UTF-8, several images in one file, an
alpha band, bands without names or wavelengths. Each message names the file and the command or flag that fixes
it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "alpha_band_error",
    "input_path",
    "multi_page_error",
    "no_band_metadata_error",
    "not_utf8_metadata",
    "page_listing",
]


def input_path(source: Any) -> Path:
    """``source`` as the path of an existing file or folder, or an error naming it and saying what to do.

    Beyond a missing path (:func:`lslib.data.readers.common.existing_path`): a name that is not UTF-8 (GDAL
    opens UTF-8 names only), a symbolic link loop and a link to a missing file each get their own message.

    Raises:
        FileNotFoundError: no file or folder at ``source`` (or a link loop / a link to nothing, said so).
        ValueError: a name that is not UTF-8.
    """
    from lslib.data.readers.common import existing_path

    text = os.fsdecode(source) if isinstance(source, bytes | os.PathLike) else str(source)
    path = Path(text).expanduser()
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(path)
        if os.path.lexists(raw):
            bad = next(b for b in raw if b >= 0x80)
            raise ValueError(
                f"cannot open {raw!r}: its name is not UTF-8 (byte 0x{bad:02x}; written on a latin-1 system?) and "
                f"GDAL opens UTF-8 file names only. Rename it, e.g. in Python os.rename({raw!r}, "
                f"{raw.decode('latin-1')!r}), and pass the new name"
            ) from None
        raise FileNotFoundError(f"input image not found: {raw!r} does not exist (and its name is not UTF-8)") from None
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except (RuntimeError, OSError) as exc:
            raise _broken_link(path, exc) from None
    return existing_path(path, "input image")


def _broken_link(path: Path, exc: BaseException) -> FileNotFoundError:
    """The error for a symbolic link that leads to no file: a link to a missing file, or a loop."""
    chain, link = [str(path)], path
    while link.is_symlink() and len(chain) < 6:
        link = link.parent / os.readlink(link)
        chain.append(str(link))
        if chain.count(str(link)) > 1:
            break
    if isinstance(exc, FileNotFoundError) and not link.is_symlink():
        return FileNotFoundError(
            f"input image {path} is a symbolic link to {link}, which does not exist: point the link at the "
            f"image (ln -sfn REAL_FILE {path}) or pass the image's own path"
        )
    more = " -> ..." if len(chain) == len(set(chain)) else ""
    return FileNotFoundError(
        f"input image {path} is a symbolic link loop ({' -> '.join(chain)}{more}): no file at the end of "
        f"it. Point the link at the image (ln -sfn REAL_FILE {path}) or pass the image's own path"
    )


def not_utf8_metadata(path: Path, exc: UnicodeDecodeError) -> ValueError:
    """The error for a file whose tags or band descriptions are not UTF-8 (GDAL reads metadata as UTF-8)."""
    bad = exc.object[exc.start : exc.end]
    around = exc.object[max(0, exc.start - 12) : exc.end + 12]
    return ValueError(
        f"{path.name}: its text metadata (tags or band descriptions) is not UTF-8 (byte 0x{bad.hex()} in "
        f"{around!r}; written as latin-1?), and GDAL reads metadata as UTF-8. Re-save the metadata as UTF-8 in the "
        f"software that wrote {path.name}, or copy only the pixels (`rio convert {path.name} clean.tif`) and name "
        "the bands of clean.tif with --bands (Python: bands=...)"
    )


def page_listing(pages: Sequence[str]) -> str:
    """`` (the images: a, b, c, d ... (n in all))`` for a file of several images; empty for one or none."""
    if len(pages) <= 1:
        return ""
    more = f" ... ({len(pages)} in all)" if len(pages) > 4 else ""
    return f" (the images: {', '.join(pages[:4])}{more})"


def multi_page_error(path: Path, pages: Sequence[str], page: str) -> ValueError:
    """The error for a multi-page TIFF or a file of subdatasets: write the one image wanted to ``page``."""
    return ValueError(
        f"{path.name} holds {len(pages) or 'several'} images (a multi-page TIFF or subdatasets) and lslib maps "
        f"one image per file: write the one you want to its own file, e.g. `rio convert "
        f"{pages[0] if pages else 'SUBDATASET'} {page}`{page_listing(pages)}, and pass that file"
    )


def no_band_metadata_error(path: Path, count: int) -> ValueError:
    """The error for a file whose bands have no names or wavelengths: name them with ``--bands``/``--sensor``."""
    return ValueError(
        f"{path.name} has no band metadata (no wavelengths): say what its {count} bands are with "
        "--bands red,green,blue,nir (names, or central wavelengths in µm such as 0.665,0.56,0.49) or "
        "--sensor naip|s2-l2a|landsat8|rgb (Python: bands=..., sensor=...)"
    )


def alpha_band_error(path: Path, count: int, alpha: Sequence[int], pixel: bool) -> ValueError:
    """The error for a file with an alpha (transparency) band: drop it, or name every band."""
    spectral = ",".join(["red", "green", "blue", "nir"][: count - len(alpha)]) or "red"
    kept = ",".join(str(i + 1) for i in range(count) if i + 1 not in alpha)
    drop = ("in Python PIL.Image.open(path).convert('RGB').save('no_alpha.png')" if pixel else
            f"`rio stack --bidx {kept} {path.name} -o no_alpha.tif`")  # fmt: skip
    return ValueError(
        f"{path.name} has {count} bands and band {', '.join(map(str, alpha))} is alpha (transparency), not a "
        f"spectral band: drop the alpha band ({drop}) and pass that file, or, if that band really holds a "
        f"spectral band, name all {count} bands with --bands {spectral},nir (Python: bands=...)"
    )
