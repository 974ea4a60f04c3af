#!/usr/bin/env bash
# Runs the whole pipeline locally with demo data (nats-server, PostgreSQL, ingest, aggregator,
# alerts, simulator); state in .dx/; Ctrl-C stops everything. Extra arguments go to `dxmon dev`.
# Installs dx-monitor without the test tools (DX_EXTRAS=test adds them).
DX_EXTRAS="${DX_EXTRAS-}"
source "$(dirname "$0")/bootstrap.sh"
exec .venv/bin/dxmon dev "$@"
