# citeqa on CPU: the package, its shipped reader and embedder, and the default index built at image time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false CITEQA_DATA_DIR=/data

# The CPU build of torch first, pinned as in the Makefile, so nothing pulls a CUDA build.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "$TORCH_INDEX" torch==2.13.0

RUN useradd --create-home --uid 10001 citeqa && mkdir -p /data /app && chown citeqa /data /app
WORKDIR /app
COPY pyproject.toml README.md ./
COPY runtime ./runtime
COPY index ./index
COPY qa ./qa
COPY api ./api
COPY lab ./lab
RUN pip install .

USER citeqa
# Build the default index (the packaged article) and the int8 models (`auto` runs them on CPUs with VNNI or
# AMX; the build is CPU-independent) now, so the container answers at once.
RUN citeqa documents && citeqa optimize

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
CMD ["citeqa", "serve", "--host", "0.0.0.0", "--port", "8000"]
