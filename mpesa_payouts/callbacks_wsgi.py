"""The WSGI entry of the callbacks service: `gunicorn mpesa_payouts.callbacks_wsgi:application`.

It serves only the callback URLs (and /healthz/) with a minimal middleware list
(mpesa_payouts/settings_callbacks.py), so Safaricom's callbacks skip the console's session, login, second
factor and lock-out middleware. It always loads the callbacks settings, whatever DJANGO_SETTINGS_MODULE the
service's environment holds for the console; CALLBACKS_SETTINGS_MODULE names another (the benchmarks' own).
The console's entry (mpesa_payouts/wsgi.py) still serves the same callback URLs.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = os.environ.get("CALLBACKS_SETTINGS_MODULE", "mpesa_payouts.settings_callbacks")
application = get_wsgi_application()
