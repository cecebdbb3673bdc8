# The Campaign & Discount Service: migrates its database, then serves on port 8000 with 2 workers.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

# A user of its own: the service never runs as root. It owns ./data for the default SQLite file.
RUN useradd --create-home --uid 10001 app && mkdir -p /app/data && chown app:app /app/data

COPY alembic.ini .
COPY alembic ./alembic
COPY app ./app

USER app
EXPOSE 8000

# Who may set X-Forwarded-For (uvicorn reads this): only a proxy inside this container by default.
# Behind a load balancer, set it to the balancer's address or network (e.g. 10.0.0.0/8), so that
# per-IP limits count the real client; never to `*` while the service can be reached directly.
ENV FORWARDED_ALLOW_IPS=127.0.0.1

# A real round trip to the database: unhealthy (urlopen raises on 503) while it is down.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)" || exit 1

# --no-access-log: the service writes one access line per request of its own (JSON with APP_ENV=production,
# or LOG_FORMAT=json), with the request id and the route; uvicorn's would log each request twice.
# GET /metrics reports both workers: they share a metrics directory made new under /tmp at each start
# (set PROMETHEUS_MULTIPROC_DIR to choose it, and empty it before each start).
# --http app.core.http.server:Protocol: uvicorn's httptools parser with limits on the request's head
# (HTTP_MAX_HEADER_BYTES, HTTP_MAX_HEADERS: 431 past them; docs/operations.md).
CMD ["sh", "-c", "alembic upgrade head && exec uvicorn app.main:app --host 0.0.0.0 --port 8000 --workers 2 --proxy-headers --no-access-log --http app.core.http.server:Protocol"]
