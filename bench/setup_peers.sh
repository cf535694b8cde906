#!/usr/bin/env bash
# Create bench-only virtualenvs for the peer tools the benchmarks compare against.
#
#   bench/.venvs/seeknal   seeknal 2.13.x from PyPI (the `seeknal run` CLI)
#   bench/.venvs/dbt       dagster 1.13.27 + dagster-dbt 0.29.27 + dbt-duckdb, dbt-core<1.12
#   bench/.venvs/tools     py-spy, the sampling profiler profile_ours.py uses (a binary wheel from PyPI)
#
# They are kept apart from the system Python so the peers never leak into the
# project's own environment (seeknal is a large package with unrelated extras,
# and dbt pins its own dependency tree). Idempotent: a venv whose packages
# already import is left alone; pass --force to rebuild both.
#
# dbt-core is capped below 1.12 because newer releases download a parser from
# the internet at install time, and only PyPI is reachable here.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENVS="$HERE/.venvs"
PY="${PYTHON:-python3}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

SEEKNAL_SPEC="${SEEKNAL_SPEC:-seeknal==2.13.*}"
DAGSTER_VERSION="${DAGSTER_VERSION:-1.13.27}"
DAGSTER_DBT_VERSION="${DAGSTER_DBT_VERSION:-0.29.27}"

mkdir -p "$VENVS"

# pip prints one "Location ... is ignored" warning per package for the offline mirror
# entries in the global pip config; drop just those lines.
quiet_pip() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

make_venv() {  # name, check-snippet, pip args...
  local name="$1" check="$2"; shift 2
  local venv="$VENVS/$name"
  if [[ $FORCE -eq 0 && -x "$venv/bin/python" ]] && "$venv/bin/python" -c "$check" >/dev/null 2>&1; then
    echo "[$name] already set up: $("$venv/bin/python" -c "$check")"
    return 0
  fi
  echo "[$name] creating $venv"
  rm -rf "$venv"
  "$PY" -m venv "$venv"
  quiet_pip "$venv/bin/python" -m pip install --quiet --upgrade pip
  quiet_pip "$venv/bin/python" -m pip install --quiet "$@"
  echo "[$name] installed: $("$venv/bin/python" -c "$check")"
}

make_venv seeknal \
  "import importlib.metadata as m; print('seeknal', m.version('seeknal'))" \
  "$SEEKNAL_SPEC"

make_venv dbt \
  "import importlib.metadata as m; import dagster_dbt, dbt.adapters.duckdb; print('dagster', m.version('dagster'), 'dagster-dbt', m.version('dagster-dbt'), 'dbt-core', m.version('dbt-core'), 'dbt-duckdb', m.version('dbt-duckdb'))" \
  "dagster==$DAGSTER_VERSION" "dagster-dbt==$DAGSTER_DBT_VERSION" "dbt-duckdb" "dbt-core<1.12"

make_venv tools \
  "import importlib.metadata as m; print('py-spy', m.version('py-spy'))" \
  "py-spy"

# The seeknal CLI must actually start (it imports a lot at startup).
"$VENVS/seeknal/bin/seeknal" --help >/dev/null
"$VENVS/dbt/bin/dbt" --version | head -3
echo "peers ready under $VENVS"
