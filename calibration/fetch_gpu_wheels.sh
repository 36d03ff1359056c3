#!/usr/bin/env bash
# Downloads, here (with PyPI), the wheels the GPU machine lacks, for its Python 3.12, into .whl/.
# The GPU machine's image already has torch, statsmodels, nvidia-ml-py, typer, rich, numpy,
# matplotlib, scikit-learn, pyyaml; it lacks optuna (and its sqlalchemy/alembic/colorlog) and
# platformdirs. Run once before a GPU booking; `.whl/` is git-ignored and travels with `carry`.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl && mkdir -p .whl
dl() {
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$@"
}
dl optuna==5.0.0 sqlalchemy alembic colorlog mako greenlet platformdirs
# green-estimate itself, as a wheel (pure Python)
python3 -m pip wheel -q --no-deps -w .whl .
ls -la .whl
