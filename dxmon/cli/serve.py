"""Serve commands: ``serve ingest``, ``serve aggregator`` and ``serve entry`` run one service in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import typer
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.aggregator.settings import AggregatorSettings
from services.ingest.settings import IngestSettings


class GuardedHttpProtocol(HttpToolsProtocol):
    """GuardedHttpProtocol is uvicorn's httptools protocol plus the header limits uvicorn lacks.

    uvicorn times out only idle keep-alive connections (after a response): a client that connects
    and sends nothing, or starts headers and never ends them, holds its connection forever, and
    header bytes are unbounded (20 MB of headers were accepted in a test). Here a request's headers
    must be complete within ``header_timeout`` seconds of the connection opening (or of the
    request's first byte on a kept-alive connection), else 408; and within ``max_header_bytes``,
    else 431. Either way the connection is closed.
    Bodies are bounded by the app itself (size and read timeout).
    """

    header_timeout = 10.0
    max_header_bytes = 64 * 1024

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # httptools types the transport more loosely; uvicorn always passes an asyncio.Transport
        super().connection_made(transport)
        self._reading_headers = True
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_headers and self._header_timer is None:
            self._arm_header_timer()  # first byte of the next request on a kept-alive connection
        super().data_received(data)
        if self._reading_headers and not self.transport.is_closing():
            # The whole read counts: exact unless it also carried the end of a previous request
            # (pipelining), where the count may run ahead by that much.
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._refuse(b"431 Request Header Fields Too Large")

    def on_message_begin(self) -> None:
        self._header_bytes = 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_headers = True  # what arrives next is the next request's headers
        super().on_message_complete()

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._on_header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self._reading_headers and not self.transport.is_closing():
            self._refuse(b"408 Request Timeout")

    def _refuse(self, status: bytes) -> None:
        self._cancel_header_timer()
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request is still being answered: finish that answer, then close.
            self.cycle.keep_alive = False
            return
        self.transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        self.transport.close()


def guarded_http(header_timeout: float, max_header_bytes: int) -> type[GuardedHttpProtocol]:
    """guarded_http returns the protocol class with these limits (uvicorn builds one instance per connection)."""
    return type(
        "GuardedHttp", (GuardedHttpProtocol,), {"header_timeout": header_timeout, "max_header_bytes": max_header_bytes}
    )


class _Follower(uvicorn.Server):
    """_Follower is a server that leaves signals to the main one, which stops it (``serve_beside``)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_beside(main: uvicorn.Server, follower: uvicorn.Server) -> None:
    """serve_beside runs ``follower`` (e.g. metrics on an internal port) for as long as ``main`` runs."""
    task = asyncio.create_task(follower.serve())
    try:
        await main.serve()
    finally:
        follower.should_exit = True
        await task


# Options of every HTTP service facing agencies (ingest, entry): the same guards, the same words.
HEADER_TIMEOUT = typer.Option(
    10.0, "--header-timeout", help="Seconds a client has to send complete request headers (else 408, closed)"
)
MAX_HEADER_BYTES = typer.Option(
    64 * 1024, "--max-header-bytes", help="Largest request line + headers (else 431, closed)"
)


def register(cli) -> None:
    @cli.serve.command("ingest")
    def serve_ingest(
        host: str = typer.Option(None, "--host", help="Listen address (default DX_INGEST_HOST)"),
        port: int = typer.Option(None, "--port", help="Port (default DX_INGEST_PORT)"),
        header_timeout: float = HEADER_TIMEOUT,
        read_timeout: float = typer.Option(
            60.0, "--read-timeout", help="Seconds a client has to send the whole request body (else 408, closed)"
        ),
        keep_alive: float = typer.Option(
            30.0, "--keep-alive", help="Seconds an idle kept-alive connection stays open after a response"
        ),
        max_header_bytes: int = MAX_HEADER_BYTES,
    ) -> None:
        """Run the ingest HTTP API (POST /v1/reports, catalog, /docs)."""
        from services.ingest.app import create_app

        settings = IngestSettings()
        app = create_app(settings, read_timeout_seconds=read_timeout)
        options: dict[str, Any] = dict(
            host=host or settings.ingest_host,
            port=port or settings.ingest_port,
            log_level="warning",
            timeout_graceful_shutdown=20,
            timeout_keep_alive=keep_alive,
            http=guarded_http(header_timeout, max_header_bytes),
        )
        if settings.ingest_metrics_port is None:
            uvicorn.run(app, **options)
            return
        from services.ingest.app import create_ops_app

        ops = uvicorn.Config(
            create_ops_app(app),
            host=options["host"],
            port=settings.ingest_metrics_port,
            log_level="warning",
            lifespan="off",
        )
        asyncio.run(serve_beside(uvicorn.Server(uvicorn.Config(app, **options)), _Follower(ops)))

    @cli.serve.command("aggregator")
    def serve_aggregator(
        host: str = typer.Option(
            None, "--host", help="Listen address of /healthz, /readyz, /metrics (default DX_AGGREGATOR_HOST)"
        ),
        port: int = typer.Option(None, "--port", help="Port of the health routes (default DX_AGGREGATOR_METRICS_PORT)"),
    ) -> None:
        """Run the aggregator (JetStream → database) with its health and metrics routes."""
        from services.aggregator.app import create_app

        settings = AggregatorSettings()
        uvicorn.run(
            create_app(settings),
            host=host or settings.aggregator_host,
            port=port or settings.aggregator_metrics_port,
            log_level="warning",
            timeout_graceful_shutdown=30,
        )

    @cli.serve.command("entry")
    def serve_entry(
        host: str = typer.Option(None, "--host", help="Listen address (default DX_ENTRY_HOST)"),
        port: int = typer.Option(None, "--port", help="Port (default DX_ENTRY_PORT)"),
        header_timeout: float = HEADER_TIMEOUT,
        max_header_bytes: int = MAX_HEADER_BYTES,
    ) -> None:
        """Run the entry service (spreadsheet templates, imports with a dry run)."""
        from services.entry.app import create_app
        from services.entry.settings import EntrySettings

        settings = EntrySettings()
        uvicorn.run(
            create_app(settings),
            host=host or settings.entry_host,
            port=port or settings.entry_port,
            log_level="warning",
            timeout_graceful_shutdown=20,
            http=guarded_http(header_timeout, max_header_bytes),
        )
