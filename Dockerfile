# labelloop: the ML backend for Label Studio, CPU only.
#   docker build -t labelloop .
#   docker run -p 9090:9090 -v labelloop-data:/data labelloop
# From outside the container labelloop's own API, dashboard and /metrics need basic auth
# (LABELLOOP_BASIC_AUTH_USER/_PASSWORD) or LABELLOOP_API_ALLOWED_NETWORKS / LABELLOOP_OPEN_API:
# without them they answer loopback clients only (see README, "Security").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    LABELLOOP_DATA_DIR=/data \
    LABELLOOP_HOST=0.0.0.0 \
    LABELLOOP_PORT=9090

WORKDIR /app
# torch first, CPU build: anything that pulls torch unpinned would fetch a multi-GB CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY prompts ./prompts
RUN pip install . \
    && useradd --create-home --uid 10001 labelloop \
    && mkdir -p /data && chown labelloop /data && chmod 700 /data

USER labelloop
VOLUME ["/data"]
EXPOSE 9090
# /health on the container's loopback, with the basic auth of the environment when it is on
# (`labelloop healthcheck`, without the import time of every other sub-command)
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "labelloop.cli.healthcheck"]
CMD ["labelloop", "serve"]
