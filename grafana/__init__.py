"""Grafana: dx-monitor's dashboards as code, their provisioning files and the Grafana query pipeline.

dashboards/<name>.py ─build()─▶ build.py ─▶ provisioning/dashboards/<uid>.json   (committed; drift-tested)
                                         └▶ provisioning/datasources/dx-monitor.yaml
interpolate.py: what Grafana does to a panel's SQL before PostgreSQL sees it (tests and bench run it)
"""
