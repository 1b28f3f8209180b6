"""`spacy project run all` end to end: the real project.yml commands on a tiny corpus, in a copy of
the project (so nothing of the real corpus/, training/ or packages/ is touched), then a rerun
that skips every step."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

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
    """project.yml plus links to the code: the workflow writes only inside `root`."""
    root.mkdir()
    shutil.copy(REPO / "project.yml", root / "project.yml")
    for name in ("configs", "scripts"):
        (root / name).symlink_to(REPO / name)
    return root


def run_all(project: Path, corpus: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "spacy", "project", "run", "all", str(project),
           "--vars.local_corpus", str(corpus), "--vars.n_folds", "2", "--vars.dev_fraction", "0.25",
           "--vars.train_steps", "10", "--vars.package_version", "0.0.1"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=project, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def test_all_workflow_runs_and_reruns_nothing(tmp_path: Path):
    corpus = tiny_upstream_corpus(tmp_path / "corpus")
    project = project_copy(tmp_path / "project")
    run_all(project, corpus)
    for output in ["corpus/v2.spacy", "corpus/v2/train.spacy", "docs/corpus.md", "docs/agreement.md",
                   "training/pipeline_cnn/model-best/meta.json", "training/pipeline_cnn/log.jsonl",
                   "training/pipeline_cnn/report/report.md", "packages/en_fgen_pipeline-0.0.1-py3-none-any.whl"]:
        assert (project / output).exists(), output
    dev = json.loads((project / "training/pipeline_cnn/metrics_dev.json").read_text())
    gold = json.loads((project / "training/pipeline_cnn/metrics_links_gold_entities.json").read_text())
    assert {"ents_f", "values_f", "links_f"} <= set(dev["scores"]) and gold["entities"] == "gold"
    assert "pipeline_cnn" in (project / "training/pipeline_cnn/report/report.md").read_text()
    again = run_all(project, corpus)
    assert again.stdout.count("Skipping") >= 9, again.stdout[-3000:]
