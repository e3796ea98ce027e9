FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY processor ./processor
COPY config ./config
COPY streams ./streams
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT []
CMD ["slo", "run"]
