# The production image of the service-request API: runtime dependencies only, from the hashed lock.
# Build: docker build -t vehicle-services .   Run: see docker-compose.yml and README.md ("Docker").

ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
COPY requirements/runtime.txt /tmp/runtime.txt
# The lock is universal and hashed; --no-deps because it already names every package.
# pip goes afterwards: the running service never installs anything.
RUN /opt/venv/bin/pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/runtime.txt \
    && /opt/venv/bin/pip uninstall --yes pip
WORKDIR /app
COPY service/ service/
# Bytecode checked by hash, not by mtime: the copy into the next stage cannot make it stale.
RUN python -m compileall -q --invalidation-mode unchecked-hash service /opt/venv/lib

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
# HOST: reachable from outside the container. PYTHONDONTWRITEBYTECODE: it is compiled already and the
# code is not the app user's to write. No DynamoDB is chosen here: the service refuses to guess.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "service", "healthcheck"]
# Exec form: python is PID 1 and gets SIGTERM itself; uvicorn then stops taking connections,
# finishes the requests in flight, runs the shutdown (closing the DynamoDB client) and exits.
CMD ["python", "-m", "service", "serve"]
