"""Make the corpus available at CORPUS_DIR: link an existing local copy, or fetch the assets.

    python scripts/get_corpus.py assets/fgen-corpus --local ../shared/fgen-corpus

A local copy (same layout as the upstream repository: raw_data/ plus the definition files)
is linked, not copied, so nothing derived from it lands in the repository. Without one,
`spacy project assets` clones the public upstream repository (needs network and git).
"""
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer

from fgen.util.console import msg

REQUIRED = ["raw_data", "tag_categories_v2.json", "tag_list_definitions_v2.json", "tag_categories.json", "tag_list_definitions.json"]
app = typer.Typer(add_completion=False)


def missing_parts(folder: Path) -> list:
    return [name for name in REQUIRED if not (folder / name).exists()]


@app.command()
def main(
    corpus_dir: Path = typer.Argument(..., help="Where the project reads the corpus from"),
    local: Optional[str] = typer.Option(None, "--local", "-l", help="An existing local copy to use instead of downloading ('' = none)"),
) -> None:
    """Link or fetch the fgen corpus."""
    local_dir = Path(local).resolve() if local else None
    if local_dir is not None and local_dir.is_dir():
        if missing_parts(local_dir):
            msg.fail(f"{local_dir}: not a corpus copy, missing {', '.join(missing_parts(local_dir))}", exits=1)
        if corpus_dir.is_symlink() or corpus_dir.exists():
            if corpus_dir.resolve() == local_dir:
                msg.good(f"{corpus_dir} -> {local_dir} (already linked)")
                return
            if not corpus_dir.is_symlink():
                msg.fail(f"{corpus_dir} exists and is not a link to {local_dir}; remove it or pass --vars.local_corpus ''", exits=1)
            corpus_dir.unlink()
        corpus_dir.parent.mkdir(parents=True, exist_ok=True)
        corpus_dir.symlink_to(local_dir, target_is_directory=True)
        msg.good(f"Linked {corpus_dir} -> {local_dir}")
        return
    if not missing_parts(corpus_dir):
        msg.good(f"Using the corpus already in {corpus_dir}")
        return
    msg.info(f"No local copy at {local!r}: fetching the upstream repository into {corpus_dir}")
    cmd = [sys.executable, "-m", "spacy", "project", "assets", ".", f"--vars.corpus_dir={corpus_dir}"]
    if subprocess.run(cmd).returncode != 0 or missing_parts(corpus_dir):
        msg.fail(f"Could not fetch the corpus into {corpus_dir} (needs network and git); or pass --vars.local_corpus DIR", exits=1)
    msg.good(f"Fetched the corpus into {corpus_dir}")


if __name__ == "__main__":
    app()
