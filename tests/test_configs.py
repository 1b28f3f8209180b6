"""The training configs agree with each other and with the project's train commands.

- Each NER config and its whole-pipeline config (ner.cfg / pipeline.cfg, ner_cnn.cfg /
  pipeline_cnn.cfg) are the same file plus fgen_links: every shared setting and every comment
  must be identical, so the two cannot drift apart.
- The components are set up alike on both encoders (transformer and CNN).
- Every `spacy train` command of project.yml stops training where the config's learning-rate
  schedule ends: a decaying schedule cut early trains at a rate far from its end.
"""
import json
import re
import shlex
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import spacy
from thinc.api import Config
from weasel.util import load_project_config

from .conftest import REPO

CONFIGS = REPO / "configs"
PAIRS = [("ner.cfg", "pipeline.cfg"), ("ner_cnn.cfg", "pipeline_cnn.cfg")]
# What a whole-pipeline config may add or change: the linker and the score weights.
PIPELINE_ONLY = ("components.fgen_links", "training.score_weights")
# vars.pipeline of the `train` command: every config it can train.
PIPELINES = ["pipeline", "pipeline_cnn", "pipeline_features"]


def sections(config: Config, prefix: str = "") -> Dict[str, Dict[str, Any]]:
    """Every section of a config by its dotted name, with its plain (non-section) settings."""
    found = {prefix: {k: v for k, v in config.items() if not isinstance(v, dict)}} if prefix else {}
    for key, value in config.items():
        if isinstance(value, dict):
            found.update(sections(value, f"{prefix}.{key}" if prefix else key))
    return found


def text_blocks(path: Path) -> Tuple[str, Dict[str, str]]:
    """A config file's header comment, and each section's text with the comment lines above it."""
    header, blocks, pending, current = [], {}, [], None
    for line in path.read_text(encoding="utf8").splitlines():
        match = re.fullmatch(r"\[([^\]]+)\]", line.strip())
        if match:
            current = match.group(1)
            blocks[current] = "\n".join(pending + [line])
            pending = []
        elif current is None and not blocks:
            header.append(line)
        elif line.startswith("#") or not line.strip():
            pending.append(line)  # belongs to the next section if comments follow, else trails this one
        else:
            blocks[current] += "\n" + "\n".join(pending + [line])
            pending = []
    return "\n".join(header), {name: text.strip() for name, text in blocks.items()}


def shared(name: str) -> bool:
    return not name.startswith(PIPELINE_ONLY)


@pytest.mark.parametrize("ner_name,pipeline_name", PAIRS)
def test_pipeline_config_is_the_ner_config_plus_links(ner_name, pipeline_name):
    ner = sections(spacy.util.load_config(CONFIGS / ner_name, interpolate=False))
    full = sections(spacy.util.load_config(CONFIGS / pipeline_name, interpolate=False))
    assert {s for s in full if s not in ner} == {s for s in full if s.startswith("components.fgen_links")}
    assert {s for s in ner if s not in full} == set()
    assert full["nlp"]["pipeline"] == ner["nlp"]["pipeline"] + ["fgen_links"]
    for name in filter(shared, ner):
        expected, got = dict(ner[name]), dict(full[name])
        if name == "nlp":
            expected.pop("pipeline"), got.pop("pipeline")
        assert got == expected, f"[{name}] differs between {ner_name} and {pipeline_name}"


@pytest.mark.parametrize("ner_name,pipeline_name", PAIRS)
def test_pipeline_config_comments_match_the_ner_config(ner_name, pipeline_name):
    ner_header, ner_blocks = text_blocks(CONFIGS / ner_name)
    full_header, full_blocks = text_blocks(CONFIGS / pipeline_name)
    for name in filter(shared, ner_blocks):
        if name != "nlp":  # its pipeline line differs
            assert full_blocks[name] == ner_blocks[name], f"[{name}] text differs between {ner_name} and {pipeline_name}"
    # The headers differ in their first two paragraphs (what the file trains, the command line).
    assert full_header.split("\n#\n")[2:] == ner_header.split("\n#\n")[2:]


def component_settings(path: Path) -> Dict[str, Dict[str, Any]]:
    """fgen's component sections of a config, without their encoder (tok2vec) parts."""
    found = sections(spacy.util.load_config(path, interpolate=False))
    return {name: settings for name, settings in found.items() if name.startswith("components.fgen_") and ".tok2vec" not in name}


@pytest.mark.parametrize("trf_name,cnn_name", [("ner.cfg", "ner_cnn.cfg"), ("pipeline.cfg", "pipeline_cnn.cfg")])
def test_components_agree_across_encoders(trf_name, cnn_name):
    assert component_settings(CONFIGS / trf_name) == component_settings(CONFIGS / cnn_name)


def parse_overrides(args: List[str]) -> Dict[str, Any]:
    """`--section.key value` pairs of a command line, values parsed as spaCy's CLI does."""
    overrides = {}
    for i, arg in enumerate(args):
        if arg.startswith("--") and "." in arg:
            value = args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("--") else "true"
            try:
                overrides[arg[2:]] = json.loads(value)
            except ValueError:
                overrides[arg[2:]] = value
    return overrides


def train_runs() -> Iterator[Tuple[str, Path, Dict[str, Any]]]:
    """(command, config, overrides) of every `spacy train` line of project.yml, per pipeline var;
    scripts/train_seeds.py (CONFIG OUTPUT, then `spacy train`'s options) counts as one."""
    for pipeline in PIPELINES:
        project = load_project_config(REPO, overrides={"vars.pipeline": pipeline})
        for command in project["commands"]:
            for line in command["script"]:
                args = shlex.split(line)
                if args[1:4] == ["-m", "spacy", "train"]:
                    yield command["name"], REPO / args[4], parse_overrides(args[5:])
                elif args[1] == "scripts/train_seeds.py":
                    yield command["name"], REPO / args[2], parse_overrides(args[4:])


def learning_rates(config: Config, n_steps: int) -> List[float]:
    """The optimizer's learning rate at update 0 .. n_steps - 1 (constant: one value)."""
    rate = spacy.registry.resolve({"rate": config["training"]["optimizer"]["learn_rate"]})["rate"]
    if isinstance(rate, (int, float)):
        return [float(rate)]
    return [next(rate) for _ in range(n_steps)]


@pytest.mark.parametrize("command,path,overrides", list(train_runs()), ids=lambda x: x if isinstance(x, str) else "")
def test_training_stops_where_the_learning_rate_schedule_ends(command, path, overrides):
    overrides = {key: value for key, value in overrides.items() if key.startswith("training.")}
    config = spacy.util.load_config(path, overrides=overrides, interpolate=True)
    assert_rate_schedule_ends_with_training(config, f"{command} ({path.name})")


def assert_rate_schedule_ends_with_training(config: Config, command: str) -> None:
    """A decaying learning rate ends near 0 where training stops, and max_epochs cannot stop it earlier."""
    training = config["training"]
    # spaCy's loop updates at steps 0 .. max_steps and then stops (or earlier by patience).
    rates = learning_rates(config, training["max_steps"] + 1)
    if len(rates) == 1:
        return  # a constant rate: any stop agrees with it
    assert training["max_epochs"] <= 0, (
        f"{command}: the config decays its learning rate over max_steps, but max_epochs = "
        f"{training['max_epochs']} can stop training before (steps per epoch depend on the data)"
    )
    peak = max(rates)
    assert training["max_steps"] > 0 and rates[-1] <= 0.01 * peak, f"{command}: the rate ends at {rates[-1] / peak:.0%} of its peak"
    assert rates[int(0.9 * len(rates))] > 0, f"{command}: the rate reaches 0 long before training stops"


def test_finetune_config_sources_every_component_and_decays_to_zero():
    """Two-stage training's second stage: all of stage 1's components, the encoder fine-tuned, and
    a learning rate that ends at 0 where training stops."""
    raw = spacy.util.load_config(CONFIGS / "pipeline_features_finetune.cfg", interpolate=False)
    assert all(dict(component) == {"source": "${paths.stage1}"} for component in raw["components"].values())
    assert list(raw["components"]) == raw["nlp"]["pipeline"]
    config = spacy.util.load_config(CONFIGS / "pipeline_features_finetune.cfg", interpolate=True)
    assert config["training"]["before_update"]["@callbacks"] == "fgen.fine_tune_encoder.v1"
    assert_rate_schedule_ends_with_training(config, "pipeline_features_finetune.cfg")
    rates = learning_rates(config, config["training"]["max_steps"] + 1)
    assert rates[0] < max(rates)  # warmed up
