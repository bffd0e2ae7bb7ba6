"""The way back's fast lane: providers' callbacks and tracked links' redirects, straight to their views.

Status callbacks come 2 to 4 per message sent and clicks in bursts right after a send, so these
requests skip what the rest of the site needs (bench/receipts.py, bench/clicks.py):
- the middleware that only people's pages use (messaging_site/machine_requests.py passes machine
  requests past it anyway; here it is not even called);
- Django's URL resolver: routes() name each view by a pattern equal to its URLconf entry
  (tests/test_fast_lane.py checks both ways);
- the connection's health check, a ``SELECT 1`` before each request's first query: a connection
  that died in between (a PostgreSQL restart) fails its first statement instead, and the view runs
  once more on a new connection, before anything was answered.

- Django's handler itself, for the requests that matter (a webhook's POST, a link's GET or HEAD,
  without cookies): PlainLane runs the hooks of every middleware that acts on machine requests
  (security headers and the HTTPS redirect, the ALLOWED_HOSTS check, CSRF, X-Frame-Options, the
  fixed Content-Security-Policy) in settings.MIDDLEWARE's order, calls the view, turns an
  exception into Django's own answer and log line (response_for_exception), and hands the response
  back to the server, whose closing it sends request_finished (old connections recycled). It reads
  the query and a urlencoded form into FormDicts (QueryDict's own parsing, minus its per-field
  checks). Any other method, a request with cookies (the CSRF layer may renew one), or a
  middleware whose own __call__ it does not know goes to MachineHandler.

MachineHandler is Django's request path with the same middleware and routes: the same WSGIRequest
and response and the request_started / request_finished signals. A path under /webhooks/ or /l/
that no route names goes to the URL resolver, as before. tests/test_fast_lane.py compares the
lanes' answers with Django's, under other settings (HTTPS, HSTS, hosts) and faults too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed, TooManyFieldsSent
from django.core.handlers.exception import convert_exception_to_response, response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_bytes_from_wsgi, get_script_name
from django.core.signals import setting_changed
from django.db import InterfaceError, OperationalError, close_old_connections, connection, reset_queries
from django.http import HttpRequest, HttpResponse, QueryDict
from django.urls import ResolverMatch, set_script_prefix
from django.utils.datastructures import MultiValueDict
from django.utils.deprecation import MiddlewareMixin
from django.utils.functional import cached_property
from django.utils.log import log_response
from django.utils.module_loading import import_string

from messaging_site.machine_requests import MACHINE_POLICY

# Only these prefixes take the lane; both are machine paths (machine_requests.MACHINE_PATH).
LANE_PREFIX = re.compile(r"/(?:webhooks|l)/")


def routes() -> list[tuple[re.Pattern, Callable[..., HttpResponse]]]:
    """(pattern on the path, view): the same views the URLconf names for these paths (<str:> is
    [^/]+, <path:> is .+). Imported here, once Django is set up."""
    from campaigns.links import follow_link
    from providers.gupshup import webhooks as gupshup
    from providers.sendbulk import webhooks as sendbulk
    from providers.twilio import webhooks as twilio

    return [
        (re.compile(r"/webhooks/(?:twlo|twlowa)/(?P<token>[^/]+)/status"), twilio.status_callback),
        (re.compile(r"/webhooks/(?:twlo|twlowa)/(?P<token>[^/]+)/inbound"), twilio.inbound_message),
        (re.compile(r"/webhooks/gswa/(?P<token>[^/]+)/events"), gupshup.events),
        (re.compile(r"/webhooks/sendbulk/(?P<token>[^/]+)/dlr"), sendbulk.delivery_report),
        (re.compile(r"/l/(?P<code>.+)", re.DOTALL), follow_link),
    ]


def acts_on_machine_requests(middleware: type) -> bool:
    return not getattr(middleware, "passes_machine_requests", False)


def on_a_live_connection(view: Callable) -> Callable:
    """Run ``view`` without the per-request health check; once more on a new connection when a
    kept one turns out dead (nothing was answered yet, and its one write is taken at most twice:
    every event is applied once in effect, however often it is taken)."""

    @wraps(view)
    def run(*args, **kwargs):
        kept = connection.connection is not None
        if kept:
            connection.health_check_done = True  # the retry below stands in for the SELECT 1
        try:
            return view(*args, **kwargs)
        except (OperationalError, InterfaceError):
            if not kept or connection.in_atomic_block or connection.is_usable():
                raise
            connection.close()
            return view(*args, **kwargs)

    return run


class LaneMixin:
    """A Django handler with only the middleware that acts on machine requests, and its lane's
    views first (lane_views(): pattern and view, the view wrapped as the lane keeps connections).
    This lane and the API's (api_lane.py) differ only in those."""

    lane_routes: list | None = None

    def lane_views(self) -> list[tuple[re.Pattern, Callable[..., HttpResponse]]]:
        raise NotImplementedError

    def load_middleware(self, is_async: bool = False) -> None:
        """BaseHandler.load_middleware's chain (synchronous) of the middleware that acts on machine requests."""
        self._view_middleware, self._template_response_middleware, self._exception_middleware = [], [], []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(settings.MIDDLEWARE):
            middleware = import_string(path)
            if not acts_on_machine_requests(middleware):
                continue
            try:
                instance = middleware(handler)
            except MiddlewareNotUsed:
                continue
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        if self.lane_routes is None:
            self.lane_routes = self.lane_views()
        path = request.path_info
        for pattern, view in self.lane_routes:
            if found := pattern.fullmatch(path):
                match = ResolverMatch(view, (), found.groupdict(), route=pattern.pattern)
                request.resolver_match = match
                return match
        return super().resolve_request(request)


class FastLaneMixin(LaneMixin):
    """The callbacks' and redirects' views, each run once more on a new connection when a kept one was dead."""

    def lane_views(self) -> list[tuple[re.Pattern, Callable[..., HttpResponse]]]:
        return [(pattern, on_a_live_connection(view)) for pattern, view in routes()]


class MachineHandler(FastLaneMixin, WSGIHandler):
    """Django's WSGI handler, in the fast lane."""


# The method each plain route answers itself; any other goes to MachineHandler (405s, CSRF refusals).
PLAIN_METHODS = {"/webhooks/": frozenset({"POST"}), "/l/": frozenset({"GET", "HEAD"})}


@dataclass(frozen=True)
class Layer:
    """One middleware of the machine chain, as its hooks (MiddlewareMixin.__call__ runs them so)."""

    name: str
    on_request: Callable | None = None
    on_view: Callable | None = None
    on_response: Callable | None = None


def machine_policy(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """machine_requests.ContentSecurityPolicy on a machine request: the fixed policy."""
    response.headers.setdefault("Content-Security-Policy", MACHINE_POLICY)
    return response


def axes_lockout(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """AxesMiddleware.__call__ after the view: a locked-out sign-in's answer (none of these views signs in)."""
    if settings.AXES_ENABLED and getattr(request, "axes_locked_out", None):
        from axes.helpers import get_lockout_response

        return get_lockout_response(request, response, getattr(request, "axes_credentials", None))
    return response


# Middleware whose own __call__ is not MiddlewareMixin's, with what it does on a machine request.
OWN_CALL = {
    "messaging_site.machine_requests.ContentSecurityPolicy": machine_policy,
    "axes.middleware.AxesMiddleware": axes_lockout,
}


def machine_layers() -> list[Layer] | None:
    """The machine chain of settings.MIDDLEWARE as hooks, outermost first; None if one of them
    cannot be run so (a middleware with its own __call__ not in OWN_CALL): then no plain lane."""
    layers = []
    for path in settings.MIDDLEWARE:
        middleware = import_string(path)
        if not acts_on_machine_requests(middleware):
            continue
        if path in OWN_CALL:
            layers.append(Layer(path, on_response=OWN_CALL[path]))
            continue
        if not issubclass(middleware, MiddlewareMixin) or middleware.__call__ is not MiddlewareMixin.__call__:
            return None
        if hasattr(middleware, "process_template_response") or hasattr(middleware, "process_exception"):
            return None
        try:
            instance = middleware(lambda request: None)
        except MiddlewareNotUsed:
            continue
        hooks = ("process_request", "process_view", "process_response")
        layers.append(Layer(path, *(getattr(instance, hook, None) for hook in hooks)))
    return layers


class FormDict(QueryDict):
    """A QueryDict built as QueryDict.__init__ builds it, each value appended to its key's list
    directly: QueryDict.appendlist checks and converts the key and the value again on every field
    (a twentieth of a status callback's CPU, for its form and its query)."""

    def __init__(self, query_string=None, mutable: bool = False, encoding: str | None = None) -> None:
        MultiValueDict.__init__(self)
        self.encoding = encoding or settings.DEFAULT_CHARSET
        query_string = query_string or ""
        if isinstance(query_string, bytes):
            try:
                query_string = query_string.decode(self.encoding)
            except UnicodeDecodeError:
                query_string = query_string.decode("iso-8859-1")  # as QueryDict does
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        try:
            for key, value in parse_qsl(
                query_string, keep_blank_values=True, encoding=self.encoding, max_num_fields=limit
            ):
                dict.setdefault(self, key, []).append(value)
        except ValueError as error:
            raise TooManyFieldsSent(
                "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS."
            ) from error
        self._mutable = mutable


class LaneRequest(WSGIRequest):
    """Django's WSGIRequest, its query and urlencoded form read into FormDicts."""

    @cached_property
    def GET(self) -> QueryDict:
        return FormDict(get_bytes_from_wsgi(self.environ, "QUERY_STRING", ""), encoding=self._encoding)

    def _load_post_and_files(self) -> None:
        readable = hasattr(self, "_body") or not self._read_started
        utf8 = self._encoding is None or self._encoding.lower() == "utf-8"
        if self.method == "POST" and self.content_type == "application/x-www-form-urlencoded" and readable and utf8:
            self._post, self._files = FormDict(self.body, encoding="utf-8"), MultiValueDict()
            return
        super()._load_post_and_files()  # everything else, and the errors, as Django reads them


class PlainLane:
    """Django's machine chain without its handler: the same middleware hooks, in the same order, and
    the same views, called from here.

    MachineHandler (like every Django handler) wraps each middleware and the view in an exception
    converter, sends request_started, builds a ResolverMatch and goes through BaseHandler's
    checks: about a third of a callback's CPU (bench/receipts.py). Here the hooks run in a loop
    with the same semantics (an exception becomes response_for_exception's answer, which logs it,
    at the layer it came from; a hook's answer skips the layers inside it), and the response goes
    back to the server as Django's does, so closing it still sends request_finished (which
    recycles old connections and closes the caches). request_started is not sent: its
    close_old_connections repeats request_finished's for a process that serves one request at a
    time, and its reset_queries (DEBUG's query log) is called here when DEBUG is on.
    """

    def __init__(self, handler: MachineHandler) -> None:
        self.handler = handler
        self.layers = machine_layers()
        self.routes = [
            (pattern, PLAIN_METHODS[prefix], handler.make_view_atomic(on_a_live_connection(view)))
            for pattern, view in routes()
            for prefix in PLAIN_METHODS
            if pattern.pattern.startswith(prefix)
        ]

    def route(self, request: HttpRequest) -> tuple[Callable, dict] | None:
        """The view and its arguments for a request this lane answers, or None (MachineHandler's)."""
        if self.layers is None or request.META.get("HTTP_COOKIE"):
            return None  # cookies: the CSRF layer may renew a bad one, a step MachineHandler takes
        for pattern, methods, view in self.routes:
            if request.method in methods and (found := pattern.fullmatch(request.path_info)):
                return view, found.groupdict()
        return None

    def respond(self, request: HttpRequest, view: Callable, kwargs: dict) -> HttpResponse:
        response, passed = None, []
        for layer in self.layers:
            if layer.on_request is not None:
                try:
                    response = layer.on_request(request)
                except Exception as error:  # noqa: BLE001 - as convert_exception_to_response does
                    response = response_for_exception(request, error)
                    break
            passed.append(layer)
            if response is not None:
                break
        if response is None:
            response = self.view_response(request, view, kwargs)
        for layer in reversed(passed):
            if layer.on_response is not None:
                try:
                    response = layer.on_response(request, response)
                except Exception as error:  # noqa: BLE001 - as convert_exception_to_response does
                    response = response_for_exception(request, error)
        if response.status_code >= 400:  # as BaseHandler.get_response: "Not Found: /webhooks/..." (once)
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        return response

    def view_response(self, request: HttpRequest, view: Callable, kwargs: dict) -> HttpResponse:
        try:
            for layer in self.layers:
                if layer.on_view is not None and (response := layer.on_view(request, view, (), kwargs)):
                    return response
            response = view(request, **kwargs)
            self.handler.check_response(response, view)
            return response
        except Exception as error:  # noqa: BLE001 - as convert_exception_to_response does
            return response_for_exception(request, error)

    def __call__(self, request: HttpRequest, view: Callable, kwargs: dict, start_response):
        if settings.DEBUG:
            reset_queries()
        response = self.respond(request, view, kwargs)
        response._handler_class = MachineHandler
        status = f"{response.status_code} {response.reason_phrase}"
        start_response(
            status, [*response.items(), *(("Set-Cookie", c.output(header="")) for c in response.cookies.values())]
        )
        return response  # the server closes it: request_finished


# The machine middleware whose answer to a link found depends only on the request's host and
# scheme (ALLOWED_HOSTS, the HTTPS redirect, HSTS, fixed headers), with the settings that would make
# it depend on more (the user agent, the path): QuickRedirects is off when one of those is set.
HOST_AND_SCHEME_ONLY = frozenset(
    {
        "django.middleware.security.SecurityMiddleware",
        "messaging_site.machine_requests.ContentSecurityPolicy",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "axes.middleware.AxesMiddleware",
    }
)
PATH_OR_AGENT_SETTINGS = ("DISALLOWED_USER_AGENTS", "SECURE_REDIRECT_EXEMPT", "DEBUG")
# What Django reads of a request to tell its host and scheme (HttpRequest.get_host, is_secure).
HOST_AND_SCHEME = ("wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "HTTP_X_FORWARDED_HOST",
                   "HTTP_X_FORWARDED_PORT")  # fmt: skip
QUICK_LINK = re.compile(r"/l/([0-9A-Za-z]+)")
KEPT_ANSWERS = 64  # hosts and schemes: a handful in practice (those ALLOWED_HOSTS lets through)


class QuickRedirects:
    """A tracked link's redirect without Django's request and response: the hottest machine
    request (clicks come in bursts right after a send), and the plain lane still spent most of one
    building the request, the response and its headers (bench/clicks.py).

    The answer to a link found differs from one to the next only by its Location: the view's 302
    and headers, and what the machine middleware adds, which depends only on the request's host and
    scheme (HOST_AND_SCHEME_ONLY). So the first such answer for a host and scheme comes from the
    plain lane, which checks the host and runs the middleware, and its headers are kept; later
    requests from that host and scheme get them with their own Location. A request from another
    host or scheme, with cookies, for a code not found (the plain lane's 404, logged), or a fault
    goes through the plain lane as before. A settings change (the test suite's) forgets what was kept.
    """

    def __init__(self, plain: PlainLane) -> None:
        from campaigns.links import follow

        self.kept: dict[tuple, list[tuple[str, str]]] = {}
        layers = {layer.name for layer in plain.layers or ()}
        self.usable = plain.layers is not None and layers <= HOST_AND_SCHEME_ONLY
        self.follow = on_a_live_connection(follow)
        setting_changed.connect(self.forget, weak=False, dispatch_uid=id(self))

    def forget(self, **kwargs) -> None:
        self.kept.clear()

    def allowed(self) -> bool:
        return self.usable and not any(getattr(settings, name) for name in PATH_OR_AGENT_SETTINGS)

    def key(self, environ: dict) -> tuple:
        proxy = settings.SECURE_PROXY_SSL_HEADER
        return (environ["REQUEST_METHOD"], *map(environ.get, HOST_AND_SCHEME), proxy and environ.get(proxy[0]))

    @staticmethod
    def link_code(environ: dict) -> str | None:
        """The code of a request this lane may answer (a link's GET or HEAD, without cookies), or None."""
        found = QUICK_LINK.fullmatch(environ.get("PATH_INFO", ""))
        if found is None or environ.get("HTTP_COOKIE") or environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return None
        return found[1]

    def answer(self, environ: dict, start_response):
        """The redirect, or None when the plain lane must answer. Only answers learnt while allowed()
        are kept, and a settings change forgets them: allowed() needs no asking here."""
        code = self.link_code(environ) if self.kept else None
        headers = self.kept.get(self.key(environ)) if code is not None else None
        if headers is None:
            return None
        address = self.follow(code, environ["REQUEST_METHOD"], environ.get("HTTP_USER_AGENT", ""))
        if address is None:
            return None  # not found: nothing was logged, and the plain lane answers (and logs) the 404
        start_response("302 Found", [("Location", address) if name == "Location" else (name, value)
                                     for name, value in headers])  # fmt: skip
        return Finished()

    def learn(self, environ: dict, response: HttpResponse) -> None:
        """Keep the plain lane's answer's headers for this host and scheme, if it was a link found."""
        if response.status_code == 302 and not response.cookies and self.allowed() and self.link_code(environ):
            if len(self.kept) >= KEPT_ANSWERS:
                self.kept.clear()
            self.kept[self.key(environ)] = list(response.items())


class Finished(list):
    """An empty body whose closing does what request_finished would for a redirect: the database
    connection it used is recycled when too old or broken."""

    def close(self) -> None:
        close_old_connections()


class FastLane:
    """The site's WSGI application: /webhooks/ and /l/ to the quick redirects, the plain lane or
    MachineHandler, everything else to Django's."""

    def __init__(self, django_application: WSGIHandler) -> None:
        self.django = django_application
        self.lane = MachineHandler()
        self.plain = PlainLane(self.lane)
        self.quick = QuickRedirects(self.plain)

    def __call__(self, environ: dict, start_response):
        if not LANE_PREFIX.match(environ.get("PATH_INFO", "")):
            return self.django(environ, start_response)
        if (answer := self.quick.answer(environ, start_response)) is not None:
            return answer
        set_script_prefix(get_script_name(environ))
        request = LaneRequest(environ)
        if (found := self.plain.route(request)) is None:
            return self.lane(environ, start_response)
        response = self.plain(request, *found, start_response)
        self.quick.learn(environ, response)
        return response
