"""Gunicorn settings for the web service (callbacks must be answered in milliseconds)."""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
errorlog = "-"
# The proxy in front (if any) must be counted in CALLBACK_TRUSTED_PROXY_COUNT for the IP allow-list.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Callback URLs carry secret tokens: the access log writes them masked (first six characters and "…").
from payments.callbacks.masking import gunicorn_logger_class  # noqa: E402

logger_class = gunicorn_logger_class
# A request line or header block this large is no callback: gunicorn answers 400 before Django reads it, so a
# flood of oversized requests costs neither memory nor a database row (Daraja's requests are a few hundred
# bytes of headers).
limit_request_line = int(os.environ.get("GUNICORN_LIMIT_REQUEST_LINE", "2048"))
limit_request_fields = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELDS", "40"))
limit_request_field_size = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", "4096"))
