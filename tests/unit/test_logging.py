"""Logs are for people: plain text in files, no line per HTTP request or per message at INFO."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import logging
from dxmon.cli import configure_logging
configure_logging()
logging.getLogger("faststream").info("FastStream app started")
logging.getLogger("httpx").info("HTTP Request: POST http://127.0.0.1:8080/v1/reports 202 Accepted")
logging.getLogger("httpx").warning("httpx trouble")
logging.getLogger("dx.aggregator").info("aggregator consuming")
"""


def test_service_logs_written_to_a_file_are_plain_and_skip_per_request_lines(tmp_path):
    log_file = tmp_path / "service.log"
    with open(log_file, "wb") as out:  # as `dxmon dev` runs each service: output to a file, not a terminal
        subprocess.run([sys.executable, "-c", SCRIPT], stdout=out, stderr=subprocess.STDOUT, check=True, timeout=60)
    text = log_file.read_text()
    assert "\x1b[" not in text, text
    assert "INFO faststream: FastStream app started" in text
    assert "INFO dx.aggregator: aggregator consuming" in text
    assert "WARNING httpx: httpx trouble" in text
    assert "202 Accepted" not in text
