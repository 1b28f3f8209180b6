"""`python -m fgen.annotate MODEL INPUT OUTPUT ...`: see `fgen.annotate.cli`."""
from fgen.annotate.cli import app

if __name__ == "__main__":
    app(prog_name="python -m fgen.annotate")
