"""Settings for the messaging platform, read from the environment only.

See README.md for the variables. Unset means a laptop demo: SQLite and an embedded Redis under var/.
The local settings file (LOCAL_ENV_FILE, by default var/local.env, written by the first `make run`)
fills in what the environment does not say; the environment wins.
"""

from datetime import timedelta
from pathlib import Path

from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from messaging_site.env import (
    development_credentials_key,
    env_bool,
    env_choice,
    env_database,
    env_fernet_keys,
    env_file,
    env_float,
    env_int,
    env_list,
    env_secret,
    env_str,
    env_time_zone,
    env_url,
    load_local_env,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
# An empty LOCAL_ENV_FILE reads none (the test suite's choice: a developer's var/ must not change it).
LOCAL_ENV_FILE = env_str("LOCAL_ENV_FILE", str(VAR_DIR / "local.env"))
if LOCAL_ENV_FILE:
    load_local_env(Path(LOCAL_ENV_FILE))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Environment variable SECRET_KEY is required when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-used-only-with-DEBUG-on"  # noqa: S105

# Channels' credentials are encrypted at rest with these Fernet keys (providers/credentials.py):
# the first encrypts, all of them decrypt, so a new key goes first and the old one stays behind it
# until `manage.py rotate_credentials_key` has re-encrypted every channel.
CREDENTIALS_KEYS = env_fernet_keys("CREDENTIALS_KEY")
if not CREDENTIALS_KEYS and not DEBUG:
    raise ImproperlyConfigured(
        "Environment variable CREDENTIALS_KEY (or CREDENTIALS_KEY_FILE) is required when DEBUG is off: it encrypts "
        "channels' credentials. Make one with: python -c \"from cryptography.fernet import Fernet; "
        'print(Fernet.generate_key().decode())"'
    )
if DEBUG:
    # A checkout without a key (one `make run` has not written yet) still works; this key is
    # derived from SECRET_KEY and kept last so what it encrypted stays readable after a real key comes.
    CREDENTIALS_KEYS = [*CREDENTIALS_KEYS, development_credentials_key(SECRET_KEY)]

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
for origin in CSRF_TRUSTED_ORIGINS:
    if not origin.startswith(("http://", "https://")):
        raise ImproperlyConfigured(
            f"Environment variable CSRF_TRUSTED_ORIGINS has {origin!r}: each origin must start with http:// or https://."
        )

# --- HTTPS (README: Running it in production) -------------------------------------------------
# Behind a TLS-terminating proxy, trust its X-Forwarded-Proto so secure cookies and redirects work.
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many reverse proxies of ours a request passes through (messaging_site/client_address.py): the
# client's address is the X-Forwarded-For entry that many from the end. 0 means REMOTE_ADDR, and
# X-Forwarded-For (which anyone can write) is never read.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1 if BEHIND_PROXY else 0, minimum=0, maximum=10)
# Answer plain-HTTP requests with a redirect to HTTPS (off by default: a server reached over plain
# HTTP on a private network would loop; production turns it on).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Strict-Transport-Security: browsers then refuse plain HTTP to this host for that long. Start small
# (3600) and raise it to a year (31536000) once HTTPS is known good: it cannot be taken back early.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0, maximum=2 * 365 * 86400)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = not DEBUG and env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Content-Security-Policy (django-csp): scripts only from our own static files or with the page's
# nonce, and nothing from other hosts. Styles may be inline: django-rq's and Django's own admin
# templates carry <style> blocks and style attributes, and with img-src, font-src and connect-src
# kept to this site a style cannot send anything away.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        # The one inline script django-rq's job lists carry (the same in each of its templates).
        "script-src": [SELF, NONCE, "'sha256-1kZe1KRxelr3ptMPsod17Z6BDvbtm4WcufgsZGvsErM='"],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],  # FullCalendar's icon font is inside its stylesheet
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

INSTALLED_APPS = [
    "messaging_site.apps.MessagingAdminConfig",  # django.contrib.admin with our site (admin_site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "import_export",
    "csp",  # Content-Security-Policy header and its checks
    "messaging_site.apps.SignInLockoutsConfig",  # django-axes: sign-in throttling (messaging_site/sign_in.py)
    "django_otp",
    "messaging_site.apps.TwoFactorDevicesConfig",  # authenticator-app codes (messaging_site/two_factor.py)
    "contacts",
    "providers",
    "campaigns",
    # After campaigns: its rqcron (the one that honours --logging-level) overrides django_rq's.
    "django_rq",
]

# Webhook and API requests go past the middleware marked machine_requests: they carry no cookie and
# get no page (messaging_site/machine_requests.py); each is a subclass of the one named beside it.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "messaging_site.machine_requests.ContentSecurityPolicy",  # csp.middleware.CSPMiddleware
    "messaging_site.machine_requests.StaticFiles",  # whitenoise.middleware.WhiteNoiseMiddleware
    "messaging_site.machine_requests.Sessions",  # django.contrib.sessions' SessionMiddleware
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",  # by this name: the deploy check looks for it
    "messaging_site.machine_requests.SignedInUser",  # django.contrib.auth's AuthenticationMiddleware
    "messaging_site.machine_requests.OneTimePasswords",  # django_otp.middleware.OTPMiddleware
    "messaging_site.machine_requests.StaffTimeZone",  # messaging_site.middleware.StaffTimeZoneMiddleware
    "messaging_site.machine_requests.FlashMessages",  # django.contrib.messages' MessageMiddleware
    "messaging_site.machine_requests.SessionLimits",  # after messages: it says why a session ended
    "messaging_site.machine_requests.SecondFactor",  # REQUIRE_2FA_FOR_SUPERUSERS
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as axes asks: it answers a locked-out sign-in
]

ROOT_URLCONF = "messaging_site.urls"
WSGI_APPLICATION = "messaging_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env_database("DATABASE_URL", VAR_DIR / "db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis is only a work queue: the database is the source of truth. Unset means the embedded
# Redis that `make run` / `make test` start on a unix socket under var/ (never on a network port).
REDIS_URL = env_url("REDIS_URL", f"unix://{VAR_DIR / 'redis.sock'}", schemes=("redis", "rediss", "unix"))
RQ_QUEUES = {
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600},
    "high": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600},  # single/API messages: listened to first
    "receiving": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600},  # receipts and replies (campaigns/receiving/)
    "events": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600},  # event webhooks: listened to last, never before sending
}
# Workers run their jobs in one long-lived process (messaging_site/worker.py), keeping their
# providers' connections warm across jobs; it starts afresh after so many jobs or so much memory.
RQ = {"COMMIT_MODE": "on_db_commit", "WORKER_CLASS": "messaging_site.worker.SendWorker"}
# No second copy of django-rq's pages under /admin/django_rq/ (it checks only "staff"): /admin/rq/ is
# the one, for administrators (messaging_site/urls.py), linked from their dashboard.
RQ_SHOW_ADMIN_LINK = False

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_time_zone("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
LOGIN_URL = "admin:login"

# --- Sign-in and sessions (messaging_site/sign_in.py, two_factor.py) ---------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out username or address
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# This many wrong passwords (or authenticator codes) lock out the username, and separately the
# address they came from, for LOGIN_LOCKOUT_MINUTES; an administrator can unlock sooner.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=1000)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1, maximum=7 * 24 * 60)
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True  # a person who gets in has their earlier slips forgiven
AXES_LOCKOUT_CALLABLE = "messaging_site.sign_in.locked_out_page"
AXES_CLIENT_IP_CALLABLE = "messaging_site.sign_in.client_address"
AXES_VERBOSE = False  # axes' own banner at start; its warnings still log
# A signed-in session ends after this many minutes without a request, and in any case this many
# hours after signing in.
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 60, minimum=1, maximum=30 * 24 * 60)
SESSION_MAX_HOURS = env_int("SESSION_MAX_HOURS", 12, minimum=1, maximum=90 * 24)
SESSION_COOKIE_AGE = SESSION_MAX_HOURS * 3600
# Superusers must sign in with an authenticator-app code (they enrol on their first sign-in).
# Other staff may turn it on for themselves (Two-factor sign-in at the top of any admin page).
# On by default in production (DEBUG off); `make run`'s demo leaves it off.
REQUIRE_2FA_FOR_SUPERUSERS = env_bool("REQUIRE_2FA_FOR_SUPERUSERS", not DEBUG)
# The TOTP devices admin would show a device's secret (its QR code) to anyone who may view devices:
# nobody sees another person's secret; each enrols their own on the Two-factor sign-in page.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Messaging")  # the name authenticator apps show
# Wrong codes count as failed sign-ins for axes above; django-otp's own growing per-device delay
# would also refuse the right code typed a second after a slip, with no way to say so.
OTP_TOTP_THROTTLE_FACTOR = 0
FORMS_URLFIELD_ASSUME_HTTPS = True  # Django 6 behaviour now: a URL typed without a scheme is https

# --- Messaging -------------------------------------------------------------------------------

# Provider classes behind the registry, keyed by their code (providers/registry.py).
MESSAGING_PROVIDERS = [
    "providers.sandbox.SandboxProvider",
    "providers.gupshup.provider.GupshupWhatsAppProvider",
    "providers.sendbulk.provider.SendbulkProvider",
    "providers.twilio.provider.TwilioSmsProvider",
    "providers.twilio.provider.TwilioWhatsAppProvider",
]
# The public base URL the providers call us back on (status webhooks). Behind a reverse proxy it
# must be the outside address, because Twilio signs the URL it called, not the one we see.
PUBLIC_BASE_URL = env_url("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
# Tracked links (campaigns/links/): recipients get <SHORT_LINK_BASE_URL><code>, which answers
# /l/<code> here; a shorter domain of its own may point at /l/. Links live SHORT_LINK_DAYS.
SHORT_LINK_BASE_URL = env_url("SHORT_LINK_BASE_URL", PUBLIC_BASE_URL.rstrip("/") + "/l/")
SHORT_LINK_DAYS = env_int("SHORT_LINK_DAYS", 90, minimum=1, maximum=3650)
# Clicks answered are folded into their links' counts this many a transaction.
CLICK_BATCH_SIZE = env_int("CLICK_BATCH_SIZE", 2000, minimum=1, maximum=20_000)
# Numbers given without a country code are read in this region (ISO 3166 code, e.g. GB, US, KE).
DEFAULT_PHONE_REGION = env_str("DEFAULT_PHONE_REGION", "US").upper()
# A reply is linked to the latest message sent to its number on its channel at most this many days
# before it (and so to that message's campaign); older, it is a reply to nothing in particular.
INBOUND_REPLY_WINDOW_DAYS = env_int("INBOUND_REPLY_WINDOW_DAYS", 7, minimum=0, maximum=365)
# A transient failure is retried up to this many attempts in all, with exponential backoff.
# Eight: a provider failing one request in ten transiently still gives up on about one message
# in a hundred million (five gave up on one in a hundred thousand: seen in the chaos bench).
SEND_MAX_ATTEMPTS = env_int("SEND_MAX_ATTEMPTS", 8, minimum=1, maximum=50)
SEND_RETRY_BASE_SECONDS = env_float("SEND_RETRY_BASE_SECONDS", 30.0)
# How many messages one send job claims at a time.
SEND_CHUNK_SIZE = env_int("SEND_CHUNK_SIZE", 500, minimum=1, maximum=10_000)
# Contact ids per committed step of a campaign's fan-out (one INSERT ... SELECT each): a crash
# loses at most the step in progress, and the run that takes over skips what is in.
CAMPAIGN_AUDIENCE_SLICE = env_int("CAMPAIGN_AUDIENCE_SLICE", 200_000, minimum=1, maximum=10_000_000)
# A send job stops after this many seconds and leaves the rest to a fresh job, so no job comes
# near RQ's timeout (which would kill it in the middle of a provider call).
SEND_JOB_BUDGET_SECONDS = env_int("SEND_JOB_BUDGET_SECONDS", 240, minimum=5, maximum=3000)
# A claim not renewed for this long had its worker die (or its job hang): a live job renews its
# claim every 5 s, also while it waits for the provider's answers (campaigns/pipeline/sending.py).
SENDING_STALE_SECONDS = env_int("SENDING_STALE_SECONDS", 20, minimum=15)
# A queued message untouched for this long lost its job (Redis flushed or restarted).
QUEUED_STALE_SECONDS = env_int("QUEUED_STALE_SECONDS", 60, minimum=5)
# How often the reconciler looks for due or stuck work.
RECONCILE_INTERVAL_SECONDS = env_int("RECONCILE_INTERVAL_SECONDS", 5, minimum=1, maximum=3600)
# How often every WhatsApp channel's templates are synced from its provider (campaigns/whatsapp/sync.py).
TEMPLATE_SYNC_MINUTES = env_int("TEMPLATE_SYNC_MINUTES", 60, minimum=5, maximum=24 * 60)
# SMS fallback (campaigns/whatsapp/fallback.py): a number learned to be off WhatsApp gets the SMS at
# once for this many days, then WhatsApp is tried again; the "not delivered in time" check runs this often.
WHATSAPP_RECHECK_DAYS = env_int("WHATSAPP_RECHECK_DAYS", 30, minimum=1, maximum=365)
FALLBACK_CHECK_SECONDS = env_int("FALLBACK_CHECK_SECONDS", 60, minimum=5, maximum=3600)
# The receiving worker (campaigns/receiving/): events the webhooks took, applied this many a
# transaction; a job applies for RECEIVING_SLICE_SECONDS, or until nothing has come for
# RECEIVING_IDLE_SECONDS, then hands its worker over (rqcron starts the next one every second).
RECEIVING_BATCH_SIZE = env_int("RECEIVING_BATCH_SIZE", 2000, minimum=1, maximum=20_000)
RECEIVING_SLICE_SECONDS = env_float("RECEIVING_SLICE_SECONDS", 10.0)
RECEIVING_IDLE_SECONDS = env_float("RECEIVING_IDLE_SECONDS", 2.0)
# A receiving job renews its lease after every batch; a killed one's lapses after this long.
RECEIVING_LEASE_SECONDS = env_int("RECEIVING_LEASE_SECONDS", 15, minimum=2, maximum=600)
# A worker starts afresh (the same command, a new process image) after this many jobs, or once it
# holds more than this many MB: what a leak can grow to is bounded (messaging_site/worker.py).
WORKER_MAX_JOBS = env_int("WORKER_MAX_JOBS", 1000, minimum=1)
WORKER_MAX_MEMORY_MB = env_int("WORKER_MAX_MEMORY_MB", 1024, minimum=64)
# A file of CA certificates (PEM) that provider calls trust instead of the system's: a provider
# behind a private CA, or the chaos bench's self-signed endpoint. Empty: the system's CAs.
PROVIDER_CA_BUNDLE = env_file("PROVIDER_CA_BUNDLE")
# HTTP timeouts for calls to providers: (connect, read) in seconds.
PROVIDER_CONNECT_TIMEOUT = env_float("PROVIDER_CONNECT_TIMEOUT", 5.0)
PROVIDER_READ_TIMEOUT = env_float("PROVIDER_READ_TIMEOUT", 30.0)
# A Prometheus scraper sends "Authorization: Bearer <this>" to /admin/metrics/ (staff need none).
# Empty: only signed-in staff can read the metrics.
METRICS_TOKEN = env_secret("METRICS_TOKEN")
# Requests one API key may make per minute; more are answered 429 with Retry-After.
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 600, minimum=1)
# Recipients one API key may send to per UTC day (POST /message counts 1, a bulk job its recipients),
# unless the key sets its own; 0: no quota. Over it: 429 naming the quota and when it resets.
API_DAILY_RECIPIENT_QUOTA = env_int("API_DAILY_RECIPIENT_QUOTA", 100_000, minimum=0)
# How long a web process may answer from the API keys it found (campaigns/api/auth.py): a key
# changed through the admin or saved counts from the next request anyway; this bounds a change
# made with a queryset update. 0: every request reads its key from the database.
API_KEY_CACHE_SECONDS = 10.0

# Event webhooks (campaigns/events/). An endpoint or status_callback URL that resolves to a loopback
# or private address is refused unless this is on (DEBUG turns it on, for the demo's receiver).
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", DEBUG)
# First retry after this many seconds, doubling (with jitter) up to an hour between tries.
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 10.0)
# An event not delivered this long after it happened is given up; an endpoint failing this long is switched off.
WEBHOOK_GIVE_UP_HOURS = env_int("WEBHOOK_GIVE_UP_HOURS", 24, minimum=1, maximum=24 * 14)
# Seconds a receiver has to answer one event.
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0)
# Events one worker has in flight to one destination at once.
WEBHOOK_CONCURRENCY = env_int("WEBHOOK_CONCURRENCY", 32, minimum=1, maximum=512)
# A worker's claim on events older than this had its worker die: another takes them.
WEBHOOK_CLAIM_STALE_SECONDS = env_int("WEBHOOK_CLAIM_STALE_SECONDS", 300, minimum=1)
# Seconds an events job runs before handing over to a fresh one.
WEBHOOK_JOB_BUDGET_SECONDS = env_int("WEBHOOK_JOB_BUDGET_SECONDS", 60, minimum=1, maximum=3000)
# After an endpoint's secret is rotated, its old secret signs too (two signatures) for this many hours.
WEBHOOK_SECRET_ROTATION_HOURS = env_int("WEBHOOK_SECRET_ROTATION_HOURS", 24, minimum=0, maximum=24 * 14)
# Delivered events and attempts are kept this many days for the delivery log.
WEBHOOK_KEEP_DAYS = env_int("WEBHOOK_KEEP_DAYS", 30, minimum=1)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# text: "time LEVEL logger message key=value ..."; json: one object a line (messaging_site/logs.py).
LOG_FORMAT = env_choice("LOG_FORMAT", "TEXT", ("TEXT", "JSON")).lower()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "messaging_site.logs.RedactSecrets"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "fields": {"()": "messaging_site.logs.FieldsFormatter", "json_lines": LOG_FORMAT == "json"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "fields"},  # redacts every line
        # Django's own handlers, each given the redaction: a webhook's address carries its token.
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server", "filters": ["redact"]},
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "filters": ["require_debug_false", "redact"],
        },
    },
    "loggers": {
        # Without Django's unredacted console handler: its lines reach ours through the root.
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
    "root": {"handlers": ["console"], "level": env_choice("LOG_LEVEL", "INFO", LOG_LEVELS)},
}
# Error reports (the e-mails to ADMINS, DEBUG's error page) redacted like the log lines.
DEFAULT_EXCEPTION_REPORTER = "messaging_site.logs.RedactedExceptionReporter"

# --- Contact imports (contacts/importing/) ------------------------------------------------------
# Largest spreadsheet staff may upload, in MB (a million rows of a few columns is about 50 MB).
CONTACT_IMPORT_MAX_MB = env_int("CONTACT_IMPORT_MAX_MB", 150, minimum=1, maximum=2048)
# Rows saved per transaction: an import that stops partway has every chunk before it saved.
CONTACT_IMPORT_CHUNK_ROWS = env_int("CONTACT_IMPORT_CHUNK_ROWS", 20_000, minimum=100, maximum=200_000)
# Processes parsing phone numbers in an import job (0: one per core).
CONTACT_IMPORT_PROCESSES = env_int("CONTACT_IMPORT_PROCESSES", 0, minimum=0, maximum=64)
# A running import that saved nothing for this long had its worker die (it can then be resumed).
CONTACT_IMPORT_STALE_SECONDS = env_int("CONTACT_IMPORT_STALE_SECONDS", 180, minimum=30)
# Uploaded files (personal data) are removed this many days after upload by a periodic job
# (messaging_site/cron.py); the import's record and summary stay.
CONTACT_IMPORT_KEEP_DAYS = env_int("CONTACT_IMPORT_KEEP_DAYS", 30, minimum=1, maximum=3650)
