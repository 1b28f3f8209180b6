"""`python -m fgen.explore`: the `fgen-explore` command."""
from fgen.explore.cli import app

if __name__ == "__main__":
    app()
