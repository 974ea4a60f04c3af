"""Serve commands: ``serve ingest`` and ``serve aggregator`` run one service in the foreground."""

from __future__ import annotations

import typer
import uvicorn

from dxmon.settings import AggregatorSettings, IngestSettings


def register(cli) -> None:
    @cli.serve.command("ingest")
    def serve_ingest(
        host: str = typer.Option(None, "--host", help="Listen address (default DX_INGEST_HOST)"),
        port: int = typer.Option(None, "--port", help="Port (default DX_INGEST_PORT)"),
    ) -> None:
        """Run the ingest HTTP API (POST /v1/reports, catalog, /docs)."""
        from services.ingest.app import create_app

        settings = IngestSettings()
        app = create_app(settings)
        uvicorn.run(app, host=host or settings.ingest_host, port=port or settings.ingest_port,
                    log_level="warning", timeout_graceful_shutdown=20, timeout_keep_alive=30)

    @cli.serve.command("aggregator")
    def serve_aggregator(
        host: str = typer.Option("0.0.0.0", "--host", help="Listen address of /healthz, /readyz, /metrics"),
        port: int = typer.Option(None, "--port", help="Port of the health routes (default DX_AGGREGATOR_METRICS_PORT)"),
    ) -> None:
        """Run the aggregator (JetStream → database) with its health and metrics routes."""
        from services.aggregator.app import create_app

        settings = AggregatorSettings()
        uvicorn.run(create_app(settings), host=host, port=port or settings.aggregator_metrics_port,
                    log_level="warning", timeout_graceful_shutdown=30)
