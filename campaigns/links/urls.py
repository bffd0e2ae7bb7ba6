from django.urls import path

from campaigns.links import follow_link

# <path:…>: a code with odd characters, a slash too, gets the view's plain 404, not the site's page.
urlpatterns = [
    path("l/<path:code>", follow_link, name="follow_link"),
]
