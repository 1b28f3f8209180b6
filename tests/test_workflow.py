"""`spacy project run all` end to end: the real project.yml commands on a tiny corpus, in a copy of
the project (so nothing of the real corpus/, training/ or packages/ is touched), then a rerun
that skips every step, `all-finetune` on top of it (only its own steps run), and an edit of a
component that reruns the steps using it.

The deps of every command are also checked statically: its script, the fgen modules that script
imports (and, for commands that train or load a pipeline, the modules behind fgen's entry points),
and every corpus/ or training/ file it reads as the output of another command."""
import ast
import json
import os
import re

import pytest
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Dict, List, Set

from spacy.util import load_config
from weasel.util import load_project_config

from .conftest import REPO, TEXT, V1_CATEGORIES, V1_VALUES, V2_CATEGORIES, V2_VALUES, mae_xml, v1_tags, v2_tags

LINKED = "V2 Marked and Linked Entities"


def tiny_upstream_corpus(root: Path) -> Path:
    """A corpus folder laid out like the upstream repository, every folder the workflow reads."""
    raw = root / "raw_data"
    files = {f"{LINKED}/{i}_PMID{i}0000{i}.txt_CC2.xml": mae_xml(TEXT, v2_tags()) for i in range(1, 9)}
    files.update({
        "V2 Marked Entities No Linking/9_PMID90000.txt_CC2.xml": mae_xml(TEXT, v2_tags().split("\n<ENTITY_LINKING")[0]),
        "V2 No Marked Entities/10_PMID100000.txt_CC2.xml": mae_xml("Nothing to see here.", ""),
        "Marked and Linked Entities/1_PMID10001.txt_CC.xml": mae_xml(TEXT, v1_tags()),
        "Marked Entities No Linking/2_PMID20002.txt_CC.xml": mae_xml(TEXT, v1_tags().split("\n<ENTITY_LINKING")[0]),
        "No Marked Entities/3_PMID30003.txt_CC.xml": mae_xml("Nothing here either.", ""),
        "HZ and CC files for IAA calculation/HZ/1_PMID10001.txt_HZ.xml": mae_xml(TEXT, v2_tags()),
        "HZ and CC files for IAA calculation/CC2/1_PMID10001.txt_CC2.xml": mae_xml(TEXT, v2_tags()),
    })
    for name, content in files.items():
        (raw / name).parent.mkdir(parents=True, exist_ok=True)
        (raw / name).write_text(content, encoding="utf8")
    for name, data in {"tag_categories_v2.json": V2_CATEGORIES, "tag_list_definitions_v2.json": V2_VALUES,
                       "tag_categories.json": V1_CATEGORIES, "tag_list_definitions.json": V1_VALUES}.items():
        (root / name).write_text(json.dumps(data), encoding="utf8")
    return root


def project_copy(root: Path) -> Path:
    """project.yml, pyproject.toml and copies of components/ (the commands' code deps, edited by
    the test), docs/ and annotations/, plus links to configs/ and scripts/: the workflow writes
    only inside `root`. The
    commands still import fgen from the editable install, i.e. the repository's components/."""
    root.mkdir()
    for name in ("project.yml", "pyproject.toml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "components", root / "components", ignore=shutil.ignore_patterns("__pycache__"))
    # docs/ is written by the workflow (reports) and read by `package` (results.json); annotations/
    # is where new annotations go (convert reads it): copies, so the repository stays untouched.
    for name in ("docs", "annotations"):
        shutil.copytree(REPO / name, root / name)
    for name in ("configs", "scripts"):
        (root / name).symlink_to(REPO / name)
    return root


def run_all(project: Path, corpus: Path, *extra: str, target: str = "all") -> subprocess.CompletedProcess:
    """`spacy project run TARGET` (a workflow or a command) on the tiny corpus, with short trainings."""
    cmd = [sys.executable, "-m", "spacy", "project", "run", target, str(project),
           "--vars.local_corpus", str(corpus), "--vars.n_folds", "2", "--vars.dev_fraction", "0.25",
           "--vars.train_steps", "10", "--vars.finetune_steps", "4", "--vars.package_version", "0.0.1", *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=project, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def skipped(output: str) -> Set[str]:
    """The commands weasel skipped ("Skipping 'NAME': nothing changed") in a run's output."""
    return set(re.findall(r"Skipping '([^']+)': nothing changed", output))


@pytest.mark.slow  # minutes: run with `pytest -m slow`; the deps check below is the fast guard
def test_all_workflow_runs_and_reruns_nothing(tmp_path: Path):
    corpus = tiny_upstream_corpus(tmp_path / "corpus")
    project = project_copy(tmp_path / "project")
    run_all(project, corpus)
    variables = load_project_config(project)["vars"]
    pipeline = variables["pipeline"]  # the default config `all` trains
    trained, assembled = f"training/{pipeline}", f"training/{pipeline}_ensemble"
    # One run per seed, side by side, and the pipeline of their average, scored and packaged.
    seeds = variables["seeds"].split(",")
    runs = [trained] + [f"{trained}_seed{seed}" for seed in seeds[1:]]
    for output in ["corpus/v2.spacy", "corpus/v2/train.spacy", "docs/corpus.md", "docs/agreement.md",
                   *(f"{run}/model-best/meta.json" for run in runs), f"{trained}/log.jsonl",
                   f"{assembled}/model/meta.json", f"{trained}/report/report.md",
                   "packages/en_fgen_pipeline-0.0.1-py3-none-any.whl"]:
        assert (project / output).exists(), output
    members = load_config(project / assembled / "model" / "config.cfg")["components"]["fgen_ner"]["model"]
    assert members["@architectures"] == "fgen.ner_ensemble.v1" and len(members["*"]) == len(seeds) > 1
    dev = json.loads((project / f"{assembled}/metrics_dev.json").read_text())
    gold = json.loads((project / f"{assembled}/metrics_links_gold_entities.json").read_text())
    assert {"ents_f", "values_f", "links_f"} <= set(dev["scores"]) and gold["entities"] == "gold"
    assert pipeline in (project / f"{trained}/report/report.md").read_text()
    steps = set(load_project_config(project)["workflows"]["all"])
    again = run_all(project, corpus)
    assert skipped(again.stdout) == steps, again.stdout[-3000:]
    # The second stage on top of it: `all-finetune` reruns nothing of `all` and fine-tunes.
    finetuned = run_all(project, corpus, target="all-finetune")
    assert skipped(finetuned.stdout) == steps, finetuned.stdout[-3000:]
    for output in ["training/pipeline_features_finetune/model-best/meta.json",
                   "packages/en_fgen_pipeline_finetuned-0.0.1-py3-none-any.whl"]:
        assert (project / output).exists(), output
    finetuned_dev = json.loads((project / "training/pipeline_features_finetune/metrics_dev.json").read_text())
    assert {"ents_f", "values_f", "links_f"} <= set(finetuned_dev["scores"])
    # Decoding settings: each run has the config's, the ensemble the var's, and stage 2 sources it.
    ner_config = load_config(project / "configs" / f"{pipeline}.cfg")["components"]["fgen_ner"]
    expected = {f"{run}/model-best": ner_config.get("entity_bias", 0.0) for run in runs}
    expected.update({f"{assembled}/model": variables["ensemble_entity_bias"],
                     "training/pipeline_features_finetune/model-best": variables["ensemble_entity_bias"]})
    for model, bias in expected.items():
        ner_cfg = json.loads((project / model / "fgen_ner" / "cfg").read_text())
        assert ner_cfg["entity_bias"] == bias, model
    # One seed (what the other configs take): a single pipeline goes through the same steps.
    run_all(project, corpus, "--vars.pipeline", "pipeline_cnn", "--vars.seeds", "0")
    single = load_config(project / "training/pipeline_cnn_ensemble/model/config.cfg")["components"]["fgen_ner"]
    assert single["model"]["@architectures"] == "fgen.ner_tagger.v1"
    assert not (project / "training/pipeline_cnn_seed1").exists()
    assert json.loads((project / "training/pipeline_cnn_ensemble/metrics_dev.json").read_text())["scores"]["ents_f"] >= 0
    # A changed component reruns what uses it: train and the steps after it, not the corpus steps.
    # A dry run shows what `all` would rerun, without training again.
    with (project / "components/pipeline/ner/ner_component.py").open("a", encoding="utf8") as file:
        file.write("\n# edited by tests/test_workflow.py\n")
    dry = run_all(project, corpus, "--dry")
    assert skipped(dry.stdout) == {"corpus", "convert-v2", "convert-v1", "split", "stats", "agreement"}, dry.stdout[-3000:]
    assert f"scripts/train_seeds.py configs/{pipeline}.cfg" in dry.stdout, dry.stdout[-3000:]


# --- static check of project.yml's deps against the code ---------------------------------------

PACKAGE = REPO / "components"  # the package `fgen`


def counts_as_code(path: Path) -> bool:
    """False for a package __init__.py holding only a docstring (project.yml leaves those out)."""
    if path.name != "__init__.py":
        return True
    body = ast.parse(path.read_text(encoding="utf8")).body
    return not (len(body) <= 1 and all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body))


def module_file(name: str):
    """components/ file of the fgen module `name` (fgen.a.b), or None (not fgen, or not a module)."""
    parts = name.split(".")
    if parts[0] != "fgen":
        return None
    base = PACKAGE.joinpath(*parts[1:])
    return next((f for f in (base.with_suffix(".py"), base / "__init__.py") if f.is_file()), None)


def fgen_imports(path: Path) -> Set[str]:
    """fgen modules (and names that may be modules) imported anywhere in `path`, their parents too."""
    package = ["fgen", *path.relative_to(PACKAGE).parent.parts] if PACKAGE in path.parents else []
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    names = {n for n in names if n.split(".")[0] == "fgen"}
    return names | {".".join(n.split(".")[:i]) for n in names for i in range(1, n.count(".") + 1)}


def code_deps(roots: List[Path]) -> Set[str]:
    """The roots and every fgen file they import, transitively, as paths relative to the repo."""
    seen: Set[Path] = set()
    todo = list(roots)
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(f for f in map(module_file, fgen_imports(path)) if f is not None)
    return {str(f.relative_to(REPO)) for f in seen if counts_as_code(f)}


def entry_point_modules() -> List[Path]:
    """The modules behind fgen's entry points: what `spacy train`/`spacy.load` import for a config."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf8"))["project"]
    return [module_file(ref.split(":")[0]) for group in project["entry-points"].values() for ref in group.values()]


def path_args(script: List[str]) -> Set[str]:
    """corpus/ and training/ paths on a command's command lines (NAME=PATH arguments included)."""
    args = (arg.split("=")[-1] for line in script for arg in shlex.split(line))
    return {arg.rstrip("/") for arg in args if arg.startswith(("corpus/", "training/"))}


def within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def expand_code_folders(deps: List[str]) -> Set[str]:
    """`deps` with each components/ folder replaced by the code files in it (weasel hashes a
    folder whole, so naming the package covers every module of it)."""
    expanded = set()
    for dep in deps:
        folder = REPO / dep
        if within(dep, "components") and folder.is_dir():
            expanded.update(str(f.relative_to(REPO)) for f in folder.rglob("*.py") if counts_as_code(f))
        else:
            expanded.add(dep)
    return expanded


def test_code_folders_expand_to_their_modules():
    expanded = expand_code_folders(["components/pipeline", "scripts/train_seeds.py"])
    assert "components/pipeline/ner/crf.py" in expanded and "scripts/train_seeds.py" in expanded
    assert "components/corpus/mae.py" not in expanded and not any("__pycache__" in path for path in expanded)


def test_deps_name_the_code_and_the_files_each_command_reads():
    config = load_project_config(REPO)
    commands = config["commands"]
    # A cache is neither: its files are derived from the deps and keyed by what made them.
    caches = {config["vars"]["features_cache"]}
    outputs = {out for cmd in commands for out in cmd.get("outputs", [])}
    problems: Dict[str, List[str]] = {}
    for cmd in commands:
        deps, outs = expand_code_folders(cmd.get("deps", [])), set(cmd.get("outputs", []))
        scripts = sorted({arg for line in cmd["script"] for arg in shlex.split(line) if arg.startswith("scripts/")})
        roots = [REPO / s for s in scripts]
        if any("spacy train" in line for line in cmd["script"]) or any("model-best" in d or d.startswith("configs/") for d in deps):
            roots += entry_point_modules()
        needed = code_deps(roots)
        if "scripts/package.py" in scripts:  # the wheel carries every module and pyproject.toml's metadata
            needed |= {str(f.relative_to(REPO)) for f in PACKAGE.rglob("*.py") if counts_as_code(f)} | {"pyproject.toml"}
        missing = [f"code dep {path}" for path in sorted(needed - deps)]
        missing += [f"dep {dep} is no command's output" for dep in sorted(deps)
                    if dep.startswith(("corpus/", "training/")) and not any(within(dep, out) for out in outputs)]
        missing += [f"reads {arg}, not among deps or outputs" for arg in sorted(path_args(cmd["script"]) - caches)
                    if not any(within(path, arg) for path in deps | outs)]
        if missing:
            problems[cmd["name"]] = missing
    assert not problems, "project.yml, add to the commands' deps/outputs:\n" + json.dumps(problems, indent=1)


def test_all_finetune_is_all_then_its_steps():
    """weasel has no workflow that includes another: `all-finetune` repeats `all`'s steps, so
    they must stay the same list (and then add only its own steps)."""
    workflows = load_project_config(REPO)["workflows"]
    assert workflows["all-finetune"] == workflows["all"] + ["finetune", "package-finetune"]
