"""Dev state: where a running ``dxmon dev`` stack published its servers (``.dx/dev.json``).

Core, so that ``dxmon.settings`` can read it without importing the dev stack (the top layer) that
writes it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

DEV_STATE_FILE = Path(".dx") / "dev.json"


def write_dev_state(path: Path, settings: dict[str, str]) -> None:
    """write_dev_state records where a running ``dxmon dev`` stack is (settings by field name) and its pid.

    ``dxmon`` commands run in the same directory read it (``dev_state_settings``) unless the
    environment or a .env file names the servers.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "settings": settings}, indent=2) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)


def remove_dev_state(path: Path) -> None:
    """remove_dev_state deletes the file if it is still this process's (a second stack may have replaced it)."""
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def dev_state_settings(path: Path = DEV_STATE_FILE) -> dict[str, str]:
    """dev_state_settings: what a ``dxmon dev`` running from this directory published, or nothing.

    A file left by a stack that died (its pid no longer runs) is ignored.
    """
    try:
        state = json.loads(path.read_text())
        pid = int(state["pid"])
        settings = state["settings"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return {}
    except PermissionError:
        pass  # runs, as another user
    return {str(k): str(v) for k, v in settings.items()} if isinstance(settings, dict) else {}
