"""The WSGI application gunicorn serves: providers' callbacks and tracked links take the fast lane
(messaging_site/fast_lane.py), the JSON API its own (messaging_site/api_lane.py), everything else
Django's usual handler."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_site.settings")
django_application = get_wsgi_application()

from messaging_site.api_lane import ApiLane  # noqa: E402 - once Django is set up
from messaging_site.fast_lane import FastLane  # noqa: E402

application = ApiLane(FastLane(django_application))
