"""Training curves from ``<out>/metrics.csv``: loss terms and validation mIoU against steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_history(path: str | Path) -> Any:
    """The metrics log as a pandas DataFrame (one row per step; ``val_*`` columns where evaluated)."""
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        path = path / "metrics.csv"
    if not path.exists():
        raise FileNotFoundError(f"no metrics log at {path}; run `lslib train` first")
    return pd.read_csv(path)


def plot_history(path: str | Path, *, smooth: int = 10) -> Any:
    """Plot a training history.

    Returns a matplotlib Figure (OO API, no pyplot state): losses (rolling mean over ``smooth`` steps) and
    validation mIoU. Save it (``fig.savefig``) or show it with ``IPython.display.display(fig)``.
    """
    from matplotlib.figure import Figure

    df = read_history(path)
    fig = Figure(figsize=(11, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    for col in [c for c in df.columns if c == "loss" or c.startswith("loss_")]:
        if col in ("loss_total",):
            continue
        ax1.plot(df["step"], df[col].rolling(smooth, min_periods=1).mean(), label=col.removeprefix("loss_"))
    ax1.set_xlabel("step")
    ax1.set_ylabel("loss (rolling mean)")
    ax1.legend(fontsize=8)
    ax1.set_title("training loss")
    if "val_miou" in df.columns:
        val = df.dropna(subset=["val_miou"])
        ax2.plot(val["step"], val["val_miou"], "o-", label="mIoU")
        if "val_oa" in val.columns:
            ax2.plot(val["step"], val["val_oa"], "s--", label="overall accuracy")
        ax2.legend(fontsize=8)
    ax2.set_xlabel("step")
    ax2.set_title("agreement with the weak labels (validation chips)")
    ax2.set_ylim(0, 1)
    fig.tight_layout()
    return fig
