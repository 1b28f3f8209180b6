"""Saving matplotlib figures for the reports."""
import io
from pathlib import Path
from typing import TYPE_CHECKING

from fgen.util.atomic import write_bytes_atomic

if TYPE_CHECKING:
    import matplotlib.pyplot as plt


def save_figure(fig: "plt.Figure", path: Path) -> None:
    """Write `fig` as a PNG to `path` atomically and close it (figures hold memory until closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
