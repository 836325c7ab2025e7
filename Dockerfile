# One image for all three services; the command picks the role.
#   CPU image (docker-compose.cpu.yml):  TORCH_INDEX=https://download.pytorch.org/whl/cpu (the default)
#   GPU image (docker-compose.yml):      TORCH_INDEX=https://download.pytorch.org/whl/cu126
#   TORCH_INDEX= (empty): torch from the default index (PyPI: a CUDA build on Linux x86_64)
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# torch first, pinned, from the index that decides CPU or CUDA (the project's other pins come from PyPI)
RUN if [ -n "${TORCH_INDEX}" ]; then pip install --index-url "${TORCH_INDEX}" "${TORCH_SPEC}"; \
    else pip install "${TORCH_SPEC}"; fi
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY transmitter ./transmitter
COPY receiver ./receiver
COPY channel_proxy ./channel_proxy
COPY semcom ./semcom
RUN pip install .
# media for SOURCE=video:/media/... or folder:/media/... (docker-compose mounts ${MEDIA:-./media} here)
RUN mkdir -p /media /out
# services stop on SIGTERM themselves; compose also sets init: true
ENTRYPOINT ["semcom"]
