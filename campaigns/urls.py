"""The public JSON API."""

urlpatterns: list = []
