# The balise image: `balise serve` (granian) as a non-root user on a read-only root
# filesystem; the index comes from a volume (filled by `balise bundle fetch`, see
# deploy/kubernetes/ and docs/deploy.md). Settings are environment variables (config.py).
#
#   docker build -t balise .
#   docker run --read-only --tmpfs /tmp -v "$PWD/var/index:/data/index:ro" -p 7878:7878 balise
#
# NOTE: a slim Debian base, not Alpine: numpy and orjson install as manylinux wheels
# (musl would compile them); no -march=native, so the image runs on any x86-64 CPU.
# checkov:skip=CKV_DOCKER_7: the base is the ARG below, python:3.11-slim-bookworm (a version tag); checkov does not expand ARGs.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the wheel of this tree and its dependencies, installed in a venv ------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# A C compiler for the compiled core (Cython, balise/*/_*.pyx). Only this stage has it: the
# runtime image gets the built wheel. The list is the README's prerequisites, word for word
# (tests/docs checks it), so that what builds here builds on a stock Debian or Ubuntu; this
# base image has its own Python headers and venv, so python3-dev and python3-venv only cost
# this throw-away stage some space.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev make python3-dev python3-venv \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.py README.md ./
COPY src ./src
# The wheel (compiled core inside), installed with its dependencies (and zstandard, for
# `balise bundle`; pyarrow, for Parquet uploads to /search/csv/); then the bytecode for
# PYTHONOPTIMIZE=1 (.opt-1.pyc), as the root filesystem is read-only at run time.
RUN python3 -m venv /opt/balise \
 && /opt/balise/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/balise/bin/pip install "$(ls /wheels/balise-*.whl)[bundle,parquet]" \
 && /opt/balise/bin/python -O -m compileall -q -j 0 /opt/balise/lib

# --- runtime: the venv, a non-root user, nothing written outside /tmp and /dev/shm ------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="balise" \
      org.opencontainers.image.description="Fast, Addok-compatible address geocoder for France" \
      org.opencontainers.image.licenses="MIT"
# Bytecode of the standard library for PYTHONOPTIMIZE=1 (.opt-1.pyc, which the base image
# does not ship): without it every start on a read-only root compiles it again in memory.
RUN python3 -O -m compileall -q -j 0 "$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')" \
 && groupadd --gid 1000 balise \
 && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin balise \
 && mkdir -p /data/index \
 && chown 1000:1000 /data/index
COPY --from=build /opt/balise /opt/balise
# Everything a worker writes goes to /tmp (an emptyDir or tmpfs): TMPDIR (CSV uploads
# spooled past 1 MB) and prometheus_client's multiprocess files (PROMETHEUS_MULTIPROC_DIR,
# created and emptied by the server at start).
ENV PATH=/opt/balise/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONOPTIMIZE=1 \
    TMPDIR=/tmp \
    WORKER_TMP_DIR=/dev/shm \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    BIND=0.0.0.0:7878 \
    BALISE_INDEX=/data/index
USER 1000:1000
WORKDIR /tmp
EXPOSE 7878
# No curl in a slim image: `balise healthcheck` asks /health/ready (or /health) with
# Python's urllib; start-period covers opening and warming a France-sized index.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 CMD ["balise", "healthcheck"]
# `balise serve` execs the server (balise/http/server.py: granian), which then is PID 1 and
# gets the stop signal itself; its settings come from the environment (WORKERS, ...).
ENTRYPOINT ["balise"]
CMD ["serve"]
