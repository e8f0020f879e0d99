"""Prometheus metrics through `prometheus-client`, served at `/metrics` to a bearer token.

With `promptkit serve --workers N` every worker writes its values to files in
`PROMETHEUS_MULTIPROC_DIR` (set by `serve`), and a scrape of any worker adds them all up.
"""

from __future__ import annotations

import glob
import hmac
import os
import tempfile
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from quart import Blueprint, Quart, Response, current_app, g, request
from quart_schema import hide

from .errors import AuthenticationError, NotFound

EXTENSION = "promptkit.metrics"
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
MAX_MODEL_LABELS = 20

blueprint = Blueprint("metrics", __name__)


class Metrics:
    """The app's metrics, in a registry of its own (tests and workers run several apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "promptkit_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "promptkit_http_request_duration_seconds",
            "Time from request to response start (for a stream: to its first byte).",
            ["method", "route"],
            registry=self.registry,
        )
        self.open_streams = Gauge(
            "promptkit_chat_streams_open",
            "Chat replies streaming right now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.time_to_first_token = Histogram(
            "promptkit_chat_time_to_first_token_seconds",
            "Time from calling the provider to its first text delta.",
            ["model"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
            registry=self.registry,
        )
        self.tokens = Counter(
            "promptkit_chat_tokens",
            "Tokens the providers reported, `in` (prompt) and `out` (completion).",
            ["direction", "model"],
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "promptkit_chat_upstream_errors",
            "Chat replies that the provider failed, before or during the stream.",
            ["model"],
            registry=self.registry,
        )
        self._models: set[str] = set()

    def model_label(self, model: str) -> str:
        """`model` as a label value. A client names the model, so after a few distinct names
        the rest share one series: a label must never let a caller create series at will."""
        if model in self._models or len(self._models) < MAX_MODEL_LABELS:
            self._models.add(model)
            return model
        return "other"

    def watch_stream(self, model: str, started: float) -> StreamWatch:
        """`started`: when the provider was called (`time.perf_counter()`)."""
        return StreamWatch(self, self.model_label(model), started)

    def exposition(self) -> bytes:
        if MULTIPROCESS_DIR not in os.environ:
            return generate_latest(self.registry)
        # Every worker's files, summed: the registry is built per scrape, as the library asks.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


class StreamWatch:
    """The metrics of one chat reply, told each step by the streaming code."""

    def __init__(self, metrics: Metrics, model: str, started: float) -> None:
        self.metrics, self.model = metrics, model
        self.started = started
        self.first_token_seen = False
        self.open = True
        metrics.open_streams.inc()

    def delta(self) -> None:
        if not self.first_token_seen:
            self.first_token_seen = True
            elapsed = time.perf_counter() - self.started
            self.metrics.time_to_first_token.labels(self.model).observe(elapsed)

    def usage(self, model: str | None, usage: dict[str, int] | None) -> None:
        """Count the tokens that the provider reported for the reply."""
        if not usage:
            return
        label = self.metrics.model_label(model) if model else self.model
        self.metrics.tokens.labels("in", label).inc(usage.get("prompt_tokens") or 0)
        self.metrics.tokens.labels("out", label).inc(usage.get("completion_tokens") or 0)

    def failed(self) -> None:
        self.metrics.upstream_errors.labels(self.model).inc()

    def closed(self) -> None:
        if self.open:  # once, whichever way the stream ended
            self.open = False
            self.metrics.open_streams.dec()


def metrics(app: Quart | None = None) -> Metrics:
    """The metrics of `app` (default: the app serving this request)."""
    metrics: Metrics = (app or current_app).extensions[EXTENSION]
    return metrics


def prepare_multiprocess(workers: int) -> None:
    """Before spawning several workers: give them one empty directory for their metric files."""
    if workers <= 1:
        return
    directory = os.environ.get(MULTIPROCESS_DIR) or tempfile.mkdtemp(prefix="promptkit-metrics-")
    for stale in glob.glob(os.path.join(directory, "*.db")):
        os.remove(stale)  # values of an earlier run would be added to this one's
    os.environ[MULTIPROCESS_DIR] = directory


def offers_metrics_token() -> bool:
    """Whether this request bears PROMPTKIT_METRICS_TOKEN (never, when it is unset)."""
    token: str | None = current_app.settings.metrics_token  # type: ignore[attr-defined]
    if not token:
        return False
    offered = request.headers.get("Authorization", "").removeprefix("Bearer ")
    return hmac.compare_digest(offered.encode(), token.encode())


@blueprint.get("/metrics")
@hide
async def scrape() -> Response:
    """Prometheus scrape endpoint; off unless PROMPTKIT_METRICS_TOKEN is set."""
    if not current_app.settings.metrics_token:  # type: ignore[attr-defined]
        raise NotFound("not found")
    if not offers_metrics_token():
        raise AuthenticationError("a valid metrics token is required")
    return Response(metrics().exposition(), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Quart) -> None:
    """Count and time every request by route template, and serve `/metrics`."""
    app.extensions[EXTENSION] = Metrics()
    app.register_blueprint(blueprint)

    @app.after_request
    async def count_request(response: Response) -> Response:
        # The template, not the path: one series per route, whatever the ids.
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        found = metrics()
        found.requests.labels(request.method, route, str(response.status_code)).inc()
        started = g.get("request_started")  # set by `observability`, which registers first
        if started is not None:
            found.latency.labels(request.method, route).observe(time.perf_counter() - started)
        return response

    @app.after_serving
    async def forget_this_worker() -> None:
        if MULTIPROCESS_DIR in os.environ:
            # A stopped worker's streams are no longer open.
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
