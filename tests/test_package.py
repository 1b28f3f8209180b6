"""The packaged pipeline: one wheel, installed with one `pip install` in a fresh virtualenv without
this repository, loads with `spacy.load("en_fgen_pipeline")` and annotates.

The venv installs the wheel's dependencies from the registries/pip cache, constrained to the
versions of requirements.txt (the CPU torch build the project pins, not the newest CUDA one).
"""
import json
import subprocess
import sys

from .conftest import REPO, TEXT
from .test_train_smoke import corpus, run, train  # noqa: F401  (module fixture + helpers)

USE_PACKAGE = """
import json, spacy
nlp = spacy.load("en_fgen_pipeline")
doc = nlp(__import__("sys").argv[1])
import fgen
print(json.dumps({
    "pipeline": nlp.pipe_names,
    "fgen_from": fgen.__file__,
    "ents": [[e.label_, e.kb_id_] for e in doc.ents],
    "links": [sorted(link) for link in doc._.links],
    "scores": doc._.link_scores,
}))
"""


def test_wheel_installs_and_loads_in_a_fresh_venv(corpus, tmp_path):  # noqa: F811
    model = train("pipeline_cnn.cfg", tmp_path / "run", corpus / "train.spacy")
    run(REPO / "scripts" / "package.py", model / "model-last", tmp_path / "packages", "--version", "0.0.1")
    wheels = list((tmp_path / "packages").glob("en_fgen_pipeline-0.0.1-*.whl"))
    assert len(wheels) == 1
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheels[0]), "-c", str(REPO / "requirements.txt")],
        capture_output=True, text=True, timeout=900,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    # Run outside the repository, with nothing of it on the path.
    used = subprocess.run([str(python), "-c", USE_PACKAGE, TEXT], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": str(venv / "bin"), "HOME": str(tmp_path)}, timeout=300)
    assert used.returncode == 0, used.stderr[-3000:]
    facts = json.loads(used.stdout.strip().splitlines()[-1])
    assert facts["pipeline"] == ["tok2vec", "fgen_ner", "fgen_values", "fgen_links"]
    assert facts["fgen_from"].startswith(str(venv))  # the wheel's copy, not the repository's
    assert len(facts["scores"]) == len(facts["links"])
    assert all(links == ["CONTEXT", "EFFECT", "PERTURBING_ACTION", "PHENOTYPE"] for links in facts["links"])
