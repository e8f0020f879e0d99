# promptkit: a slim image that runs as a non-root user and serves with hypercorn.
#   docker build -t promptkit .
#   docker run -p 8000:8000 -e DATABASE_URL=postgresql://... -e CLERK_JWT_KEY=... promptkit
# `promptkit serve` applies pending migrations, then serves; SIGTERM drains streams in flight.

# Python 3.11, as in CI: on 3.12+ asyncio's Server.wait_closed() waits for every open
# connection, so hypercorn's graceful timeout would no longer bound a shutdown.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/promptkit
WORKDIR /src
COPY pyproject.toml README.md ./
COPY promptkit ./promptkit
COPY plugins ./plugins
COPY migrations ./migrations
# The `postgres` extra brings the synchronous driver that migrations run over.
RUN /opt/promptkit/bin/pip install ".[postgres]"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/promptkit/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8000 \
    WEB_CONCURRENCY=1
RUN useradd --create-home --uid 10001 --user-group promptkit
COPY --from=build /opt/promptkit /opt/promptkit
USER promptkit
WORKDIR /home/promptkit
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['PORT']}/health\", timeout=2)"]
STOPSIGNAL SIGTERM
# `exec`, so that promptkit is PID 1 and receives SIGTERM itself.
CMD ["sh", "-c", "exec promptkit serve --host 0.0.0.0 --port \"$PORT\" --workers \"$WEB_CONCURRENCY\""]
