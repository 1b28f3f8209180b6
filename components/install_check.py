"""Refuse to run when a packaged pipeline's copy of `fgen` shadows the editable development install.

`scripts/package.py` builds one wheel that carries `fgen/` next to the pipeline. Installed into
the project's own environment, that copy lands in site-packages, where Python finds it before
the editable install's finder, so edits to `components/` would be silently ignored. Test the
wheel in its own virtualenv instead.
"""
import json
from importlib import metadata
from pathlib import Path
from typing import Optional, Tuple
from urllib.parse import unquote, urlparse


def editable_install() -> Optional[Tuple[Path, Path]]:
    """(source folder, site-packages folder) of an editable `fgen` install, or None.

    Every `fgen` distribution on the path is looked at: from the repository's folder the build's
    `fgen.egg-info` comes first and says nothing about how fgen was installed.
    """
    for dist in metadata.distributions(name="fgen"):
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
