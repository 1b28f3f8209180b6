"""Refuse to import fgen when another copy of the import name `fgen` would be used or overwrite it.

- A packaged pipeline's copy shadows the editable install: `scripts/package.py` builds one wheel
  that carries `fgen/` next to the pipeline. Installed into the project's own environment, that
  copy lands in site-packages, where Python finds it before the editable install's finder, so
  edits to `components/` would be silently ignored. Test the wheel in its own virtualenv instead.
- A foreign `fgen`: this project is distributed as `fgen-ie` (`DISTRIBUTION`); the name `fgen`
  on PyPI is someone else's package (a Fortran wrapper generator) whose wheel ships a top-level
  `fgen/` too, so one of the two overwrites the other's files. Where ours still runs, it says so.
"""
import json
from importlib import metadata
from pathlib import Path
from typing import List, Optional, Tuple
from urllib.parse import unquote, urlparse

# This project's distribution name (pyproject.toml); the import name stays `fgen`.
DISTRIBUTION = "fgen-ie"
# This project's summary, which its distributions named `fgen` (before the rename) also carry.
OWN_SUMMARY = "Information extraction for functional-genomics abstracts"


def editable_install() -> Optional[Tuple[Path, Path]]:
    """(source folder, site-packages folder) of an editable install of fgen (`DISTRIBUTION`), or None.

    Every such distribution on the path is looked at: from the repository's folder the build's
    egg-info comes first and says nothing about how fgen was installed.
    """
    for dist in metadata.distributions(name=DISTRIBUTION):
        text = dist.read_text("direct_url.json")
        info = json.loads(text) if text else {}
        if info.get("dir_info", {}).get("editable"):
            source = Path(unquote(urlparse(info["url"]).path)).resolve()
            return source, Path(dist.locate_file("")).resolve()
    return None


def shadowing_problem(package_dir: Path) -> Optional[str]:
    """Why the `fgen` imported from `package_dir` shadows an editable install, or None.

    package_dir (Path): the folder `fgen` was imported from.
    RETURNS (Optional[str]): a one-line reason with the fix, when another distribution's copy of
        `fgen` sits in the site-packages that also holds the editable install's metadata.
    """
    editable = editable_install()
    if editable is None:
        return None
    source, site = editable
    package_dir = package_dir.resolve()
    if package_dir == source / "components" or package_dir.parent != site:
        return None
    return (
        f"fgen is imported from {package_dir}, a copy installed by a packaged pipeline "
        f"(en_fgen_pipeline's wheel), which shadows the editable install from {source}: edits there "
        "would be ignored. Uninstall it here (pip uninstall en_fgen_pipeline) and test the wheel in "
        "its own virtualenv."
    )


def foreign_fgen_problem(path: Optional[List[str]] = None) -> Optional[str]:
    """Why another project's distribution named `fgen` makes this one unsafe to use, or None.

    path (Optional[List[str]]): where to look for distributions (default: `sys.path`).
    RETURNS (Optional[str]): a one-line reason with the fix, naming the foreign distribution and
        where it is installed.
    """
    found = metadata.distributions(name="fgen", **({"path": path} if path is not None else {}))
    for dist in found:
        summary = dist.metadata.get("Summary") or ""
        if summary.startswith(OWN_SUMMARY):  # this project, installed under its old name
            continue
        where = Path(dist.locate_file("")).resolve()
        return (
            f"another package named fgen (fgen {dist.version}: {summary!r}) is installed in {where}; it shares "
            f"the import name `fgen` with this project ({DISTRIBUTION}) and overwrites its files: "
            f"pip uninstall fgen, then reinstall {DISTRIBUTION} (pip install -e . in the repository) or the pipeline wheel"
        )
    return None
