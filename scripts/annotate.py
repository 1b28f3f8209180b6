"""Annotate new abstracts with a trained fgen pipeline: the repository's wrapper of the
`fgen-annotate` command (`fgen.annotate.cli`, where the options are documented).

    python scripts/annotate.py MODEL INPUT OUTPUT [--whole-file] [--format jsonl|mae|html|spacy]
        [--batch-size N] [--n-process N] [--gpu-id N] [--resume] [--scheme v2|v1] [--definitions DIR]
        [--code FILE] [--max-chars N] [--max-tokens N]
"""
from fgen.annotate.cli import app

if __name__ == "__main__":
    app()
