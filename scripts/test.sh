#!/usr/bin/env bash
# Runs the hygiene checks (ruff lint, ruff format, mypy; configured in pyproject.toml), then every test
# (unit, integration, e2e) on a fresh machine: installs what it needs into .venv and starts a throwaway
# nats-server and PostgreSQL on free ports, unless DX_TEST_NATS_URL / DX_TEST_DATABASE_URL point at
# servers to use instead. Extra arguments go to pytest; the checks always run (they take seconds).
source "$(dirname "$0")/bootstrap.sh"
set +e
failed=()
.venv/bin/ruff check . || failed+=("ruff check")
.venv/bin/ruff format --check . || failed+=("ruff format --check (run: .venv/bin/ruff format)")
.venv/bin/mypy || failed+=("mypy")
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'test.sh: hygiene check failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
.venv/bin/pytest "$@"
status=$?
# Exit code 5 means pytest collected no test: that is a failure here, not a pass.
[ "$status" -eq 5 ] && echo "test.sh: no tests were collected" >&2 && exit 1
exit "$status"
