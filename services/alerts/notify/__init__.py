"""Notify: the notification pipeline (Alertmanager's stage model); one stage per ``<name>_stage.py``."""
