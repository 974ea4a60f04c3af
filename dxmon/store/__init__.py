"""Store: the database schema (versioned migrations) and the repositories that query it.

All SQL of dx-monitor lives under this package or in the alerts service's repository modules, and
every statement is parameterised.
"""
