"""Default model configs of fgen's components: the component's architecture on spaCy's
HashEmbedCNN tok2vec, so a component also works without a shared tok2vec (as spaCy's own do)."""
from typing import Any, Dict

import srsly
from thinc.api import Config

DEFAULT_TOK2VEC = """
[model.tok2vec]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = 96
depth = 4
embed_size = 2000
window_size = 1
maxout_pieces = 3
subword_features = true
"""


def default_model_config(architecture: str, **settings: Any) -> Dict[str, Any]:
    """The `[model]` block for `architecture` with `settings`, on the default CNN tok2vec.

    architecture (str): a registered architecture, e.g. "fgen.ner_tagger.v1".
    RETURNS (dict): the model config, ready for a factory's `default_config`.
    """
    lines = ["[model]", f"@architectures = {srsly.json_dumps(architecture)}"]
    lines += [f"{key} = {srsly.json_dumps(value)}" for key, value in settings.items()]
    return Config().from_str("\n".join(lines) + "\n" + DEFAULT_TOK2VEC)["model"]
