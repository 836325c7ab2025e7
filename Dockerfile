# One image for all three services; the command picks the role.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# torch first, pinned: the CPU wheel where the index offers it (see README for CUDA)
ARG TORCH_SPEC=torch==2.13.0
RUN pip install "${TORCH_SPEC}"
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY transmitter ./transmitter
COPY receiver ./receiver
COPY channel_proxy ./channel_proxy
RUN pip install .
# services stop on SIGTERM themselves; compose also sets init: true
ENTRYPOINT ["semcom"]
