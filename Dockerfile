# One image runs every process: web (gunicorn), worker, beat and the Daraja simulator.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
RUN useradd --create-home --uid 1000 app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
RUN DJANGO_SETTINGS_MODULE=mpesa_payouts.settings SECRET_KEY=build-only python manage.py collectstatic --noinput \
    && mkdir -p /app/var && chown -R app:app /app/var /app/staticfiles
USER app

EXPOSE 8000
CMD ["gunicorn", "mpesa_payouts.wsgi:application", "--config", "deploy/gunicorn.conf.py"]
