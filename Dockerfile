# lastseen service image: one image, several roles (scheduler, crawl worker, API) chosen by the command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    LASTSEEN_DATA_DIR=/data
RUN apt-get update \
 && apt-get install -y --no-install-recommends libxml2 libxslt1.1 ca-certificates ffmpeg \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 lastseen \
 && mkdir -p /data && chown lastseen /data

WORKDIR /app
COPY pyproject.toml README.md scrapy.cfg scheduler.py ./
COPY archive ./archive
COPY crawler ./crawler
RUN pip install --no-cache-dir .

USER lastseen
VOLUME ["/data"]
EXPOSE 8000
# Default role: the API. docker-compose.yml runs the scheduler and crawl worker from the same image.
CMD ["lastseen", "serve", "--host", "0.0.0.0", "--port", "8000"]
