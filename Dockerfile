# quantdesk: the platform image (API + runtime, and `quantdesk worker`).
# Built by deploy/compose.yaml; on its own:
#   docker build -t quantdesk .
#   docker run --rm -p 8000:8000 quantdesk            # embedded defaults (SQLite in /data)
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    QUANTDESK_DATA_DIR=/data \
    QUANTDESK_API_HOST=0.0.0.0

COPY pyproject.toml README.md /src/
COPY quantdesk /src/quantdesk
# Installed from /src, which is then removed; the dashboard's chart library is
# fetched from the npm registry and checked against its pinned SHA-512
# (python -m quantdesk.web.assets) into the installed package, at build time.
RUN pip install /src \
    && rm -rf /src \
    && cd / && python -m quantdesk.web.assets \
    && useradd --create-home --uid 10001 quantdesk \
    && mkdir -p /data /app \
    && chown quantdesk:quantdesk /data

# quantdesk.toml (optional) is read from here
WORKDIR /app

USER quantdesk
VOLUME ["/data"]
# 8000: API, dashboard and /metrics; 9100: /metrics of `quantdesk worker`
EXPOSE 8000 9100
ENTRYPOINT ["quantdesk"]
CMD ["run"]
