"""The benchmark JSON contract shared by ``bench/*.py`` (``--json PATH``) and read by ``bench/run_all.py``.

``{"title": str, "tables": [{"caption": str, "rows": [dict, ...]}], "targets": [{"metric": str,
"target": str, "measured": float, "unit": str, "met": bool}], "machine": str}``, optionally ``"figures": [{"caption",
"path"}]`` (repository-relative images), and optionally
``"baselines": [{"metric", "method", "value", "baseline", "baseline_value", "higher_is_better"}]``: a
measurement beside a baseline measured in the same run (``run_all.py`` prints their ratio).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def machine() -> str:
    """One line: CPU model, cores, RAM, Python, torch (GPU if any)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        ram = f"{psutil.virtual_memory().total / 2**30:.1f} GiB RAM"
    except ImportError:
        ram = "RAM unknown"
    parts = [cpu, f"{os.cpu_count()} cores", ram, f"Python {platform.python_version()}"]
    try:
        import torch

        parts.append(f"torch {torch.__version__}")
        if torch.cuda.is_available():
            parts.append(f"GPU {torch.cuda.get_device_name(0)}")
    except ImportError:
        pass
    return ", ".join(parts)


def target(metric: str, target: str, measured: float, unit: str, met: bool) -> dict[str, Any]:
    return {"metric": metric, "target": target, "measured": float(measured), "unit": unit, "met": bool(met)}


def write_json(path: str | Path | None, title: str, tables: list[dict[str, Any]],
               targets: list[dict[str, Any]] | None = None, baselines: list[dict[str, Any]] | None = None,
               figures: list[dict[str, Any]] | None = None) -> None:
    """Write the contract document (atomically) when ``path`` is given (``figures``: ``[{"caption", "path"}]``,
    repository-relative image paths shown under the tables)."""
    if not path:
        return
    from lslib.atomic import write_text

    doc: dict[str, Any] = {"title": title, "tables": tables, "targets": targets or [], "machine": machine()}
    if baselines:
        doc["baselines"] = baselines
    if figures:
        doc["figures"] = figures
    write_text(path, json.dumps(doc, indent=1, default=lambda v: v.item() if hasattr(v, "item") else str(v)))
