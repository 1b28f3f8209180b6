"""Package a trained fgen pipeline as ONE installable wheel that carries fgen's code.

    python scripts/package.py training/pipeline_cnn/model-best packages [--name fgen_pipeline] [--version 0.1.0]
    pip install packages/en_fgen_pipeline-0.1.0-py3-none-any.whl      # in a virtualenv of its own
    python -c "import spacy; nlp = spacy.load('en_fgen_pipeline'); print(nlp('...')._.links)"

Not into the project's .venv: there the wheel's copy of `fgen` would shadow the editable install
(edits to components/ ignored), so fgen refuses to import (components/install_check.py).

`spacy package` builds the pipeline package; its `--code` option copies single modules next to
the model, which breaks fgen's cross-module imports. Instead the `fgen` package itself (the
`components/` folder, as `pip install -e .` installs it) is added to the wheel as a second
top-level package, with fgen's entry points (factories, architectures, scorers, callbacks), so:
- `spacy.load("en_fgen_pipeline")` finds every custom factory through entry points, with no
  extra import and no missing-factory error;
- custom code imports the same way as in the project (`import fgen`), from one source of truth
  copied at build time: nothing is duplicated in the repository;
- the wheel requires what fgen requires (pyproject.toml) plus what spaCy finds for the
  pipeline, and never a separate `fgen` distribution;
- fgen's console commands come along (`fgen-annotate`, `[project.scripts]`), and the scheme
  definition files are copied into the pipeline's `definitions/` folder, so MAE output works
  outside the repository without `--definitions`;
- fgen's extras are the wheel's extras: `pip install 'en_fgen_pipeline-0.1.0-py3-none-any.whl[distributed]'`
  brings Ray for `scripts/annotate_ray.py`;
- meta.json's `performance` is the shipped pipeline's own: `--metrics FILE` (repeatable) takes
  `scripts/evaluate.py` outputs of this very folder (checked by its fingerprint, else exit 1), see
  `fgen/scoring/shipped_evaluation.py` for how several files combine. Without `--metrics`
  the package has no `performance` at all (never the training-time score of a checkpoint);
- the model card: meta.json's licence, sources, authors, label scheme, intended use, limits and
  citation, the cross-validation and speed of `--results` (docs/results.json), and the README
  written from that meta (`fgen/runs/model_card.py`), in both copies.
"""
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, Dict, List, Optional

import srsly
import typer
from spacy.util import load_config

from fgen.annotate.outputs import DEFINITIONS_FOLDER
from fgen.corpus.schemes import SCHEME_FILES, find_definitions_dir
from fgen.install_check import DISTRIBUTION
from fgen.runs.model_card import card_meta, load_results, model_card
from fgen.scoring.shipped_evaluation import ShippedEvaluationError, shipped_evaluation, with_shipped_evaluation
from fgen.util.atomic import write_bytes_atomic
from fgen.util.console import msg

REPO = Path(__file__).resolve().parents[1]
SETUP_PACKAGES = "packages=[model_name],"
SETUP_ENTRY_POINTS = "entry_points={'spacy_models': ['{m} = {m}'.format(m=model_name)]}"
app = typer.Typer(add_completion=False)


def fgen_project() -> Dict:
    """The `[project]` table of fgen's pyproject.toml."""
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf8"))["project"]


def fgen_packages() -> List[str]:
    """`fgen` and every subpackage, as pyproject.toml lists them for setuptools."""
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf8"))["tool"]["setuptools"]["packages"]


def _requirement_name(requirement: str) -> str:
    for sep in "<>=!~[; ":
        requirement = requirement.split(sep, 1)[0]
    return requirement.strip().lower().replace("_", "-")


def merge_requirements(found: List[str], fgen_dependencies: List[str]) -> List[str]:
    """fgen's dependencies plus spaCy's findings, without fgen itself (it is vendored) and
    without a second entry for a package fgen already constrains."""
    names = {_requirement_name(r) for r in fgen_dependencies}
    extra = [r for r in found if _requirement_name(r) not in names | {"fgen", DISTRIBUTION}]
    return list(fgen_dependencies) + extra


def patch_setup(
    setup_py: Path, entry_points: Dict[str, Dict[str, str]], packages: List[str], extras: Optional[Dict[str, List[str]]] = None
) -> None:
    """Make spaCy's generated setup.py ship `fgen` (all its `packages`) and declare its entry
    points and `extras` (fgen's optional dependencies)."""
    text = setup_py.read_text(encoding="utf8")
    for anchor in (SETUP_PACKAGES, SETUP_ENTRY_POINTS):
        if anchor not in text:
            raise ValueError(f"{setup_py}: spaCy's setup.py template changed, '{anchor}' not found")
    groups = {group: [f"{name} = {target}" for name, target in items.items()] for group, items in entry_points.items()}
    text = text.replace(SETUP_PACKAGES, f"packages=[model_name, *{packages!r}],")
    text = text.replace(
        SETUP_ENTRY_POINTS,
        f"extras_require={dict(extras or {})!r},\n        "
        f"entry_points={{'spacy_models': ['{{m}} = {{m}}'.format(m=model_name)], **{groups!r}}}",
    )
    setup_py.write_text(text, encoding="utf8")


def definitions_source(model: Path, given: Optional[Path]) -> Optional[Path]:
    """The folder with the scheme definition files to ship: `given`, else the pipeline's
    `paths.definitions`, else the first above the pipeline or the working directory."""
    if given is not None:
        return given
    trained_with = load_config(model / "config.cfg", interpolate=False).get("paths", {}).get("definitions")
    candidates = [Path(trained_with)] if trained_with else []
    for name in SCHEME_FILES:
        found = find_definitions_dir([*candidates, model, Path.cwd()], name)
        if found is not None:
            return found
    return None


def copy_definitions(source: Path, pipeline_dir: Path) -> List[str]:
    """Copy every scheme definition file in `source` to `pipeline_dir/definitions`; returns their names."""
    target = pipeline_dir / DEFINITIONS_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for files in SCHEME_FILES.values():
        if all((source / name).is_file() for name in files):
            for name in files:
                shutil.copyfile(source / name, target / name)
                copied.append(name)
    return copied


def ship_meta(main_path: Path, data_dir: Path, meta: Dict[str, Any], shipped: Optional[Dict[str, Any]],
              results: Dict[str, Any], encoder: Optional[str]) -> Dict[str, Any]:
    """Write the package's meta (`meta` with the shipped evaluation, `with_shipped_evaluation`,
    and the model card's fields, `card_meta`) to `main_path`, give the pipeline folder's copy in
    `data_dir` the same, and write the model card as both copies' README.md.
    RETURNS (Dict[str, Any]): the package's meta."""
    project = fgen_project()
    meta = card_meta(with_shipped_evaluation(meta, shipped), project, results, encoder)
    inner = card_meta(with_shipped_evaluation(srsly.read_json(data_dir / "meta.json"), shipped), project, results, encoder)
    # json, not srsly: srsly rounds floats, and the scores must be the evaluation's own
    for folder, folder_meta in ((main_path, meta), (data_dir, inner)):
        write_bytes_atomic(folder / "meta.json", (json.dumps(folder_meta, indent=2) + "\n").encode("utf8"))
        write_bytes_atomic(folder / "README.md", model_card(meta).encode("utf8"))
    return meta


def _run(cmd: List[str], what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        msg.fail(f"{what} failed (exit {result.returncode})", (result.stdout + result.stderr)[-3000:], exits=1)


@app.command()
def main(
    model: Path = typer.Argument(..., help="Trained pipeline folder, e.g. training/pipeline_cnn/model-best"),
    output: Path = typer.Argument(Path("packages"), help="Folder for the package source and the wheel"),
    name: str = typer.Option("fgen_pipeline", "--name", help="Package name without the language prefix"),
    version: str = typer.Option("0.1.0", "--version", help="Package version"),
    definitions: Optional[Path] = typer.Option(None, "--definitions", "-d", help="Folder with the scheme definition files to ship (default: the pipeline's paths.definitions, else found above it)"),
    metrics: List[Path] = typer.Option([], "--metrics", "-m", help="scripts/evaluate.py output of MODEL, for meta.json's performance (repeatable; the first file's scores first)"),
    results: Path = typer.Option(REPO / "docs" / "results.json", "--results", help="The recipe's cross-validation and speed, for the model card"),
) -> None:
    """Build packages/en_<name>-<version>-py3-none-any.whl with the pipeline and fgen's code."""
    if not (model / "config.cfg").is_file():
        msg.fail(f"{model}: not a trained pipeline folder (no config.cfg)", exits=1)
    try:
        shipped = shipped_evaluation(model, metrics) if metrics else None
    except ShippedEvaluationError as err:
        msg.fail(str(err), exits=1)
    if shipped is None:
        msg.warn("No --metrics: the package's meta.json gets no performance (pass scripts/evaluate.py output of MODEL)")
    output.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "spacy", "package", str(model), str(output), "--name", name,
          "--version", version, "--build", "none", "--force"], "spacy package")
    main_path = output / f"en_{name}-{version}"
    project = fgen_project()
    meta = srsly.read_json(main_path / "meta.json")
    meta["requirements"] = merge_requirements(meta.get("requirements", []), project["dependencies"])
    data_dir = main_path / f"{meta['lang']}_{name}" / f"{meta['lang']}_{name}-{version}"
    encoder = load_config(model / "config.cfg", interpolate=False).get("paths", {}).get("transformer")
    meta = ship_meta(main_path, data_dir, meta, shipped, load_results(results), encoder)
    vendored = main_path / "fgen"
    if vendored.exists():
        shutil.rmtree(vendored)
    shutil.copytree(REPO / "components", vendored, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shipped_definitions = definitions_source(model, definitions)
    copied = copy_definitions(shipped_definitions, data_dir) if shipped_definitions else []
    if not copied:
        msg.warn("No scheme definition files found: MAE output of the installed pipeline will need --definitions (pass --definitions DIR here)")
    entry_points = {**project["entry-points"], "console_scripts": project.get("scripts", {})}
    patch_setup(main_path / "setup.py", entry_points, fgen_packages(), project.get("optional-dependencies", {}))
    for old in output.glob(f"en_{name}-{version}-*.whl"):
        old.unlink()
    _run([sys.executable, "-m", "pip", "wheel", str(main_path), "--no-deps", "--no-build-isolation", "-q",
          "-w", str(output)], "building the wheel")
    wheels = list(output.glob(f"en_{name}-{version}-*.whl"))
    if len(wheels) != 1:
        msg.fail(f"{output}: expected one wheel for en_{name}-{version}, found {len(wheels)}", exits=1)
    msg.good(f"Built {wheels[0]}", f"requirements: {', '.join(meta['requirements'])}; "
             "install it in a virtualenv of its own, not the project's .venv")


if __name__ == "__main__":
    app()
