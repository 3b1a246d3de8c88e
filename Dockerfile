# Production image: gunicorn web, Celery worker and beat all run from this one image.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CERTPANEL_DATA_DIR=/data \
    CERTPANEL_STATIC_ROOT=/app/staticfiles

RUN apt-get update \
    && apt-get install -y --no-install-recommends openssl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /app --shell /usr/sbin/nologin certpanel

WORKDIR /app
COPY requirements/ requirements/
RUN pip install --no-cache-dir -r requirements/base.txt

COPY . .
RUN CERTPANEL_DATA_DIR=/tmp/build CERTPANEL_SECRET_KEY=build python manage.py collectstatic --noinput \
    && rm -rf /tmp/build \
    && mkdir -p /data && chown certpanel /data

USER certpanel
VOLUME ["/data"]
EXPOSE 8000
CMD ["gunicorn", "certpanel.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "30", "--access-logfile", "-", "--control-socket", "/data/gunicorn.ctl"]
