"""``python -m dxmon`` is the same as the ``dxmon`` command."""

from dxmon.cli import main

main()
