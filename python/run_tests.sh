#!/usr/bin/env bash
# The Python package's test suite: builds and installs ./python into python/.venv the way a user
# would (`pip install ./python`, maturin fetched by pip as the build backend), then runs pytest
# against a throwaway PostgreSQL cluster and devvault (see tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "python/run_tests.sh: $python not found: install Python 3 with venv and pip" >&2; exit 1; }
if [[ ! -x .venv/bin/python ]]; then
    "$python" -m venv .venv || { echo "python/run_tests.sh: cannot create python/.venv (on Debian: apt-get install -y python3-venv)" >&2; exit 1; }
fi
.venv/bin/python -m pip install -q --disable-pip-version-check pytest pandas pyarrow polars tqdm
# --force-reinstall: the version number stays the same while the Rust code changes.
.venv/bin/python -m pip install -q --disable-pip-version-check --force-reinstall --no-deps .
exec .venv/bin/python -m pytest tests "$@"
