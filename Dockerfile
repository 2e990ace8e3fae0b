# The GPU serving image, built from source: vLLM 0.33.0 and vllm-deploy in a virtualenv on a
# CUDA base image, with no compiler and no pip cache in the final stage (docs/image.md: size,
# what was cut, and when to pick Dockerfile.vllm-base instead).
# Build: docker build -t <registry>/vllm-deploy:0.1.0-vllm0.33.0 .
#
# The CUDA user-space libraries (cuBLAS, cuDNN, NCCL, ...) come from the locked wheels
# (torch 2.14.0's CUDA 13.0 build), so the base is CUDA's smallest image: the CUDA runtime
# and the driver's forward-compatibility package only. Ubuntu 24.04 ships CPython 3.12, the
# version vLLM's own image uses and requirements-image.lock is resolved for.
ARG CUDA_BASE=nvidia/cuda:13.0.2-base-ubuntu24.04

FROM ${CUDA_BASE} AS builder
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# The base image's tag pins the Ubuntu release; its security updates replace package
# versions, so exact apt pins would break rebuilds.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.12 python3.12-venv python3.12-dev gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
# Every wheel by its sha256 (scripts/image_lock.py regenerates the file); no dependency resolution here.
COPY requirements-image.lock ./
RUN python3.12 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-compile --require-hashes --no-deps --only-binary :all: \
       -r requirements-image.lock
COPY pyproject.toml README.md ./
COPY src ./src
# vllm-deploy adds no package (tests/packaging); pip check proves the whole venv consistent.
RUN /opt/venv/bin/pip install --no-compile --no-deps . && /opt/venv/bin/pip check
COPY scripts/trim-venv.sh scripts/prebuild-triton.sh ./
RUN ./trim-venv.sh /opt/venv/lib/python3.12/site-packages \
    && ./prebuild-triton.sh /opt/venv/lib/python3.12/site-packages /opt/venv/bin/python /opt/vllm-deploy

FROM ${CUDA_BASE} AS runtime
ARG VERSION=0.1.0
ARG VLLM_VERSION=0.33.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="vllm-deploy" \
      org.opencontainers.image.description="vLLM ${VLLM_VERSION} with vllm-deploy's production middleware" \
      org.opencontainers.image.version="${VERSION}-vllm${VLLM_VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/vllm-deploy/vllm-deploy" \
      org.opencontainers.image.base.name="nvidia/cuda:13.0.2-base-ubuntu24.04"
ENV DEBIAN_FRONTEND=noninteractive
# Only the interpreter the venv links to; no compiler, no headers, no pip cache.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.12 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/vllm-deploy /opt/vllm-deploy
# A high, non-root UID matching the manifests' securityContext; it has no passwd entry, so
# name it and keep every cache on writable /tmp. CC hands Triton its prebuilt driver module.
USER 10001:10001
ENV PATH=/opt/venv/bin:$PATH HOME=/tmp USER=vllm LOGNAME=vllm XDG_CACHE_HOME=/tmp/.cache \
    VLLM_CACHE_ROOT=/tmp/vllm TRITON_CACHE_DIR=/tmp/triton TORCHINDUCTOR_CACHE_DIR=/tmp/inductor \
    CC=/opt/vllm-deploy/bin/triton-prebuilt-cc PYTHONDONTWRITEBYTECODE=1
EXPOSE 8000
# The middleware's liveness endpoint, with the standard library only (the model loads first).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15m --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]
ENTRYPOINT ["vllm-deploy"]
CMD ["serve", "--engine", "vllm", "--model", "/models/model", "--host", "0.0.0.0", "--port", "8000"]
