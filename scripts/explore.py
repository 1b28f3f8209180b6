"""Search, group and inspect the extracted statements across abstracts: the repository's wrapper
of the `fgen-explore` command (`fgen.explore.cli`, where the options are documented).

    python scripts/explore.py build INDEX INPUT...
    python scripts/explore.py query INDEX [--perturbation S] [--context S] [--effect S] [--phenotype S]
        [--text S] [--id ID] [--min-abstracts N] [--min-score X] [--limit N] [--format table|json|csv]
    python scripts/explore.py serve INDEX [--host 127.0.0.1] [--port 8000] [--model MODEL]
"""
from fgen.explore.cli import app

if __name__ == "__main__":
    app()
