# notifier: one image for `notifier run` (and every other command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md alembic.ini ./
COPY notifier ./notifier
COPY migrations ./migrations
RUN pip install .

COPY rules ./rules
COPY templates ./templates

RUN useradd --system --uid 10001 notifier && mkdir -p /data && chown notifier /data
USER notifier
ENV NOTIFIER_DATABASE_URL=sqlite+aiosqlite:////data/notifier.db \
    NOTIFIER_HTTP_HOST=0.0.0.0 \
    NOTIFIER_RULES_DIR=/app/rules \
    NOTIFIER_TEMPLATES_DIR=/app/templates
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
CMD ["sh", "-c", "notifier db upgrade && exec notifier run"]
