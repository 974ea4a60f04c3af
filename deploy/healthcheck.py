"""healthcheck: exit 0 when the URL answers 2xx within the timeout, else 1 (for Docker HEALTHCHECK).

Standard library only: it runs every few seconds in each container, so it must start fast and
needs neither curl in the image nor the dx-monitor package.

    python healthcheck.py http://127.0.0.1:9102/readyz [timeout_seconds]
"""

import sys
import urllib.error
import urllib.request


def probe(url: str, timeout: float) -> tuple[bool, str]:
    """probe returns (healthy, what was seen); a non-2xx answer or no answer is unhealthy."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - local probe URL
            return 200 <= response.status < 300, f"{response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{exc.code} {exc.read(200).decode('utf-8', 'replace')}"
    except (OSError, ValueError) as exc:
        return False, f"{type(exc).__name__}: {exc}"


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: healthcheck.py URL [TIMEOUT_SECONDS]", file=sys.stderr)
        return 1  # Docker reserves exit code 2
    healthy, seen = probe(argv[1], float(argv[2]) if len(argv) == 3 else 2.0)
    print(f"{argv[1]}: {seen}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
