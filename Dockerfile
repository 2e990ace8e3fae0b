# The serving image: vLLM's official OpenAI server image with vllm-deploy's runtime installed,
# so the pod runs `vllm-deploy serve --engine vllm` (ProductionMiddleware loaded by vLLM) and
# the preStop hook `vllm-deploy drain`. Build: docker build -t <registry>/vllm-deploy:0.1.0-vllm0.33.0 .
FROM vllm/vllm-openai:v0.33.0

# Only the runtime (no extras): its dependency ranges contain what vLLM installed, so pip
# adds vllm-deploy alone. The script fails the build if any other package moved, appeared or
# disappeared, or if `pip check` reports a new conflict (tests/packaging prove both).
COPY scripts/install-into-vllm-image.sh /tmp/install-into-vllm-image.sh
COPY pyproject.toml README.md /src/
COPY src /src/src
RUN /tmp/install-into-vllm-image.sh python3 /src && rm -rf /src /tmp/install-into-vllm-image.sh

# A high, non-root UID matching the manifests' securityContext.
USER 10001:10001
# The UID has no passwd entry: name it, and keep every cache on writable /tmp.
ENV HOME=/tmp USER=vllm LOGNAME=vllm XDG_CACHE_HOME=/tmp/.cache VLLM_CACHE_ROOT=/tmp/vllm \
    TRITON_CACHE_DIR=/tmp/triton TORCHINDUCTOR_CACHE_DIR=/tmp/inductor
EXPOSE 8000
ENTRYPOINT ["vllm-deploy"]
CMD ["serve", "--engine", "vllm", "--model", "/models/model", "--host", "0.0.0.0", "--port", "8000"]
