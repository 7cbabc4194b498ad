# labelloop: the ML backend for Label Studio, CPU only.
#   docker build -t labelloop .
#   docker run -p 9090:9090 -v labelloop-data:/data labelloop
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
    && mkdir -p /data && chown labelloop /data

USER labelloop
VOLUME ["/data"]
EXPOSE 9090
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9090/health', timeout=2).status == 200 else 1)"
CMD ["labelloop", "serve"]
