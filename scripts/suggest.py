"""Rank unannotated abstracts by what is worth annotating next and pre-annotate the best as MAE
files: the repository's wrapper of the `fgen-suggest` command (`fgen.suggest.cli`, where the
options are documented; docs/suggest.md).

    python scripts/suggest.py MODEL POOL... OUTPUT_DIR [--top N]
        [--strategy combined|uncertainty|disagreement|random] [--corpus PATH]... [--definitions DIR]
"""
from fgen.suggest.cli import app

if __name__ == "__main__":
    app()
