# The LiteFlow image docker-compose.yml runs: LiteFlow with every optional driver, installed at build
# time (not into a mounted checkout when a container starts), and the samples. Any command can run in
# it; by default a worker node of the cluster sample (`liteflow worker app:cluster_host`).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app/samples/cluster \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY liteflow ./liteflow
COPY providers ./providers
RUN pip install ".[all]"

COPY samples ./samples
RUN useradd --create-home --uid 10001 liteflow
USER liteflow

CMD ["liteflow", "worker", "app:cluster_host", "--processes", "1"]
