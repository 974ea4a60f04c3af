"""Dashboards: one module per dashboard, each with ``build() -> Dashboard``; shared defaults in ``panels``."""
