"""certpanel settings: every value comes from the environment (see README "Configuration")."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from certpanel.datadir import data_dir_protect, private_file_ensure
from certpanel.env import env, env_secret, envbool, envint, envints, envlist, envnetworks, envpaths, generated_secret
from certpanel.hostname import allowed_hosts, hostname_of_this_host

BASE_DIR = Path(__file__).resolve().parent.parent

DATA_DIR = Path(env("CERTPANEL_DATA_DIR", str(BASE_DIR / "data"))).resolve()
data_dir_protect(DATA_DIR)  # 0700, its files 0600: at every start of every process (certpanel/datadir.py)

SECRET_KEY = env_secret("CERTPANEL_SECRET_KEY") or generated_secret(DATA_DIR / "secret_key")
# Base64 of 32 bytes; generated in the data dir when not given (see repository/keystore.py).
CERTPANEL_KEY_ENCRYPTION_KEY = env_secret("CERTPANEL_KEY_ENCRYPTION_KEY")
CERTPANEL_KEY_ENCRYPTION_KEY_PATH = DATA_DIR / "key_encryption_key"

DEBUG = envbool("CERTPANEL_DEBUG", False)

# Unset: /etc/mailname, then `hostname -f`, then getfqdn() (certpanel/hostname.py); bootstrap says which was used.
_hostname = hostname_of_this_host(env("CERTPANEL_HOSTNAME"))
CERTPANEL_HOSTNAME = _hostname.name
CERTPANEL_HOSTNAME_SOURCE = _hostname.source
# The given names, else CERTPANEL_HOSTNAME; loopback always; '*' refused outside DEBUG.
ALLOWED_HOSTS = allowed_hosts(configured=envlist("CERTPANEL_ALLOWED_HOSTS"), hostname=CERTPANEL_HOSTNAME, debug=DEBUG)
CSRF_TRUSTED_ORIGINS = envlist("CERTPANEL_CSRF_TRUSTED_ORIGINS")
CERTPANEL_LISTEN = env("CERTPANEL_LISTEN", "127.0.0.1:8000")
CERTPANEL_WEB_WORKERS = envint("CERTPANEL_WEB_WORKERS", 2)
CERTPANEL_MAX_UPLOAD_BYTES = envint("CERTPANEL_MAX_UPLOAD_BYTES", 1024 * 1024)
# Largest backup (its JSON rows, before compression) `backup` writes and `restore` reads (certpanel/backup.py).
CERTPANEL_BACKUP_MAX_BYTES = envint("CERTPANEL_BACKUP_MAX_BYTES", 512 * 1024 * 1024)
CERTPANEL_EXPIRING_DAYS = envint("CERTPANEL_EXPIRING_DAYS", 30)
CERTPANEL_HEARTBEAT_SECONDS = envint("CERTPANEL_HEARTBEAT_SECONDS", 60)
CERTPANEL_AIA_FETCH = envbool("CERTPANEL_AIA_FETCH", True)
# Outbound fetches (AIA, ACME) reach public addresses only, and these CIDRs, addresses or names (certpanel/outbound.py).
CERTPANEL_OUTBOUND_ALLOW = envlist("CERTPANEL_OUTBOUND_ALLOW")
# DNS-01: the resolvers (IP[:PORT], comma-separated) that look up _acme-challenge CNAMEs in zones no DNS provider
# holds; empty = the system's (/etc/resolv.conf). Names in a provider's zone are asked of its own server.
CERTPANEL_DNS_RESOLVERS = envlist("CERTPANEL_DNS_RESOLVERS")
# DNS-01: how long an order waits for every authoritative nameserver to serve its TXT records before it fails
# (naming the ones that do not); the order's deadline is extended by as much.
CERTPANEL_DNS_PROPAGATION_SECONDS = envint("CERTPANEL_DNS_PROPAGATION_SECONDS", 300)
# Where certificate files for daemons go unless a listener names its own paths.
CERTPANEL_DEPLOY_DIR = env("CERTPANEL_DEPLOY_DIR", str(DATA_DIR / "deploy"))
# Daemon files are written only under these directories (resolved with realpath) and the deploy dir above: the
# panel's own /etc/ssl/certpanel, Debian's key directory, and Dovecot's. Not /etc/ssl/certs (the system's trusted
# CAs) nor a daemon's configuration directory (main.cf, nginx.conf): a listener's path could replace those.
CERTPANEL_DEPLOY_ROOTS = envpaths("CERTPANEL_DEPLOY_ROOTS", "/etc/ssl/certpanel:/etc/ssl/private:/etc/dovecot/private")
# Who may own deployed files (a listener's owner and group; empty leaves the writer's own).
CERTPANEL_DEPLOY_OWNERS = envlist("CERTPANEL_DEPLOY_OWNERS", "root,postfix,dovecot,openldap,www-data,ftp")
CERTPANEL_DEPLOY_GROUPS = envlist("CERTPANEL_DEPLOY_GROUPS", "root,ssl-cert,postfix,dovecot,openldap,www-data,ftp")
# `make run` as root runs the Celery worker (which writes daemon files and reloads daemons) as this user.
CERTPANEL_WORKER_USER = env("CERTPANEL_WORKER_USER")
CERTPANEL_AIA_TIMEOUT = envint("CERTPANEL_AIA_TIMEOUT", 5)
CERTPANEL_ACME_TIMEOUT = envint("CERTPANEL_ACME_TIMEOUT", 30)
CERTPANEL_ACME_ORDER_DEADLINE = envint("CERTPANEL_ACME_ORDER_DEADLINE", 300)
CERTPANEL_ACME_LEASE_SECONDS = envint("CERTPANEL_ACME_LEASE_SECONDS", 120)
CERTPANEL_ADMIN_USER = env("CERTPANEL_ADMIN_USER", "admin")
CERTPANEL_ADMIN_PASSWORD = env_secret("CERTPANEL_ADMIN_PASSWORD")
# Two-factor login (certpanel/access/twofactor.py): every user sets up TOTP at the first login, unless a lab
# turns it off.
# Off, a user without a device logs in with the password alone; one who set it up is still asked for the code.
CERTPANEL_REQUIRE_2FA = envbool("CERTPANEL_REQUIRE_2FA", not DEBUG)
# A private-key export or a change of a listener's paths or actions asks for the password or a code again when the
# session last proved who it is longer ago than this (certpanel/access/reauth.py).
CERTPANEL_REAUTH_SECONDS = envint("CERTPANEL_REAUTH_SECONDS", 300)

INSTALLED_APPS = [
    "certpanel.apps.PanelAdminConfig",  # django.contrib.admin, for admins only (certpanel/admin_site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_htmx",
    "certpanel",
    "repository",
    "services",
]

# certpanel/middleware.py says what its middleware do and why they sit where they do.
MIDDLEWARE = [
    "certpanel.middleware.SecurityHeadersMiddleware",
    "certpanel.middleware.BodyLimitMiddleware",
    "certpanel.middleware.HostGateMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Where a request comes from, for the audit rows its actions and logins write.
    "certpanel.audit.middleware.AuditOriginMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A session past its idle or absolute limit ends before anything asks it for a second factor.
    "certpanel.middleware.SessionTimeoutMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "certpanel.access.gate.TwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("CERTPANEL_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = 0.25  # hours
# One lock per (address, user name) pair: failures for one user lock neither other users at that address nor that
# user elsewhere. The address is the proxy's X-Forwarded-For entry only behind a trusted proxy
# (certpanel/access/client_address.py).
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_CLIENT_IP_CALLABLE = "certpanel.access.client_address.request_client_address"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# What authenticator apps show beside the account name; the TOTP secrets stay out of the admin's pages.
OTP_TOTP_ISSUER = f"certpanel {CERTPANEL_HOSTNAME}"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

ROOT_URLCONF = "certpanel.urls"
WSGI_APPLICATION = "certpanel.wsgi.application"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

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
                "certpanel.context_processors.panel",
            ],
        },
    },
]

_sqlite_path = DATA_DIR / "certpanel.sqlite3"
if not env("DATABASE_URL"):
    private_file_ensure(_sqlite_path)  # 0600 from the start, and SQLite gives its -wal and -shm the same mode
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL") or f"sqlite:///{_sqlite_path}", conn_max_age=envint("CERTPANEL_DB_CONN_MAX_AGE", 0)
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker's processes, beat and the CLI share one file.
    # WAL: readers never wait for the writer, nor the writer for readers.
    # IMMEDIATE: a transaction takes the write lock when it begins, so it waits (up to the busy timeout) for
    # another writer; a DEFERRED one that reads first fails at once with "database is locked" when its read
    # turns into a write while someone else writes, since waiting there could deadlock.
    # synchronous=NORMAL: WAL's usual pairing; a commit survives a crash of any process, only a power cut may
    # roll back the last commits (an order then resumes from what was kept), and a commit costs no fsync.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            "transaction_mode": "IMMEDIATE",
            "timeout": envint("CERTPANEL_SQLITE_BUSY_TIMEOUT", 30),
        }
    )
    # A file, not :memory:, so a real Celery worker started by the tests shares the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("CERTPANEL_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("CERTPANEL_STATIC_ROOT", str(DATA_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True

# Uploads are checked against CERTPANEL_MAX_UPLOAD_BYTES by the forms; these bound the raw request.
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * CERTPANEL_MAX_UPLOAD_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * CERTPANEL_MAX_UPLOAD_BYTES
# A larger body is refused from its Content-Length before anything reads it (BodyLimitMiddleware): four inputs at
# the upload limit, plus room for the form's other fields and the multipart framing.
CERTPANEL_MAX_REQUEST_BYTES = 4 * CERTPANEL_MAX_UPLOAD_BYTES + 64 * 1024

# HTTPS, for a panel behind a TLS reverse proxy (README "Security"). Off by default: `make run` serves plain HTTP.
CERTPANEL_BEHIND_PROXY = envbool("CERTPANEL_BEHIND_PROXY", False)
if CERTPANEL_BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
# Proxies whose X-Forwarded-For is believed for the login lockout; by default the proxy on this host, if any.
CERTPANEL_TRUSTED_PROXIES = envnetworks("CERTPANEL_TRUSTED_PROXIES", "127.0.0.1,::1" if CERTPANEL_BEHIND_PROXY else "")
SECURE_SSL_REDIRECT = envbool("CERTPANEL_SSL_REDIRECT", False)
# Monitoring and the container's health check probe plain HTTP on the web port.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_HSTS_SECONDS = envint("CERTPANEL_HSTS_SECONDS", 0, minimum=0)
# Sent only with CERTPANEL_HSTS_SECONDS. "preload" merely permits a submission to the browsers' preload list.
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = envbool("CERTPANEL_SECURE_COOKIES", SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# A session ends after this long without a request, and this long after the login (SessionTimeoutMiddleware); the
# cookie itself lasts no longer than the second.
CERTPANEL_SESSION_IDLE_MINUTES = envint("CERTPANEL_SESSION_IDLE_MINUTES", 30, minimum=1)
CERTPANEL_SESSION_MAX_HOURS = envint("CERTPANEL_SESSION_MAX_HOURS", 12, minimum=1)
SESSION_COOKIE_AGE = CERTPANEL_SESSION_MAX_HOURS * 3600

# Celery: an embedded broker (files in the data dir) unless Redis is configured.
CELERY_BROKER_URL = env("CELERY_BROKER_URL") or env("REDIS_URL") or "filesystem://"
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A task whose worker was killed is delivered again after this many seconds (acks_late).
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "visibility_timeout": envint("CERTPANEL_BROKER_VISIBILITY_TIMEOUT", 3600)
    }
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's transport with atomic publish and claim (certpanel/filequeue.py says why).
    CELERY_BROKER_TRANSPORT = "certpanel.filequeue:Transport"
    _queue = DATA_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_queue / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue / "queue"),
        "data_folder_out": str(_queue / "queue"),
        "processed_folder": str(_queue / "processed"),
        "control_folder": str(_queue / "control"),
        "store_processed": False,
        # How often the worker looks for a new message file (kombu's default is 1 s, which every task then
        # waits for on average half of). A directory listing costs microseconds.
        "polling_interval": 0.05,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CERTPANEL_RENEWAL_SWEEP_SECONDS = envint("CERTPANEL_RENEWAL_SWEEP_SECONDS", 3600)
# How often each listener is probed again, unless an admin chose on the settings page (repository/policy.py).
CERTPANEL_VERIFY_SWEEP_SECONDS = envint("CERTPANEL_VERIFY_SWEEP_SECONDS", 6 * 3600)
# The verify sweep runs this often and probes only the listeners that are due: a query when none is.
CERTPANEL_VERIFY_CHECK_SECONDS = 300
# Deployments nobody drives (never picked up, or their worker died) are queued again this often.
CERTPANEL_DEPLOY_SWEEP_SECONDS = envint("CERTPANEL_DEPLOY_SWEEP_SECONDS", 60)
# A worker's hold on a deployment, renewed at every step; longer than the slowest step (a 120 s command).
CERTPANEL_DEPLOY_LEASE_SECONDS = envint("CERTPANEL_DEPLOY_LEASE_SECONDS", 300)
# How often orders no worker has are handed over: stored while the broker was down, or left by a dead worker.
CERTPANEL_ORDER_RESUME_SECONDS = envint("CERTPANEL_ORDER_RESUME_SECONDS", 30)
CERTPANEL_NOTIFY_SWEEP_SECONDS = envint("CERTPANEL_NOTIFY_SWEEP_SECONDS", 60)
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {
        "task": "certpanel.tasks.heartbeat",
        "schedule": float(CERTPANEL_HEARTBEAT_SECONDS),
        "options": {"expires": float(CERTPANEL_HEARTBEAT_SECONDS)},
    },
    "verify-sweep": {
        "task": "services.verify_sweep",
        "schedule": float(CERTPANEL_VERIFY_CHECK_SECONDS),
        "options": {"expires": float(CERTPANEL_VERIFY_CHECK_SECONDS)},
    },
    "deployment-sweep": {
        "task": "services.deployment_sweep",
        "schedule": float(CERTPANEL_DEPLOY_SWEEP_SECONDS),
        "options": {"expires": float(CERTPANEL_DEPLOY_SWEEP_SECONDS)},
    },
    "order-resume-sweep": {
        "task": "repository.order_resume_sweep",
        "schedule": float(CERTPANEL_ORDER_RESUME_SECONDS),
        "options": {"expires": float(CERTPANEL_ORDER_RESUME_SECONDS)},
    },
    "renewal-sweep": {
        "task": "repository.renewal_sweep",
        "schedule": float(CERTPANEL_RENEWAL_SWEEP_SECONDS),
        "options": {"expires": float(CERTPANEL_RENEWAL_SWEEP_SECONDS)},
    },
    # Sends again what a dead worker, a broker outage or a failed SMTP attempt left in the outbox.
    "notifications-deliver": {
        "task": "certpanel.notifications_deliver_due",
        "schedule": float(CERTPANEL_NOTIFY_SWEEP_SECONDS),
        "options": {"expires": float(CERTPANEL_NOTIFY_SWEEP_SECONDS)},
    },
}

# Mail: SMTP when EMAIL_HOST is set, otherwise each message is written to <data dir>/emails.
EMAIL_HOST = env("EMAIL_HOST")
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", True) and not EMAIL_USE_SSL
# Implicit TLS (SMTPS) listens on 465, submission with STARTTLS on 587, plain SMTP on 25.
EMAIL_PORT = envint("EMAIL_PORT", 465 if EMAIL_USE_SSL else 587 if EMAIL_USE_TLS else 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 20)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", f"certpanel@{CERTPANEL_HOSTNAME}")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(DATA_DIR / "emails")
CERTPANEL_NOTIFY_EMAILS = envlist("CERTPANEL_NOTIFY_EMAILS")
# The outbox (certpanel/notifications.py): every email is a row, sent by a worker until the server takes it.
# Seconds to wait after the 1st, 2nd, … failed attempt; the last value repeats for ever.
CERTPANEL_NOTIFY_RETRY_SECONDS = envints("CERTPANEL_NOTIFY_RETRY_SECONDS", "30,60,120,300,600,1800")
# How long one attempt may hold a row; the delivery task is killed before it ends (no second sender meanwhile).
CERTPANEL_NOTIFY_LEASE_SECONDS = envint("CERTPANEL_NOTIFY_LEASE_SECONDS", 300)
# Absolute URL of the panel, for links in emails.
CERTPANEL_BASE_URL = env("CERTPANEL_BASE_URL", f"http://{CERTPANEL_HOSTNAME}:8000").rstrip("/")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("CERTPANEL_LOG_LEVEL", "INFO")},
    # acme logs whole JWS payloads at DEBUG; keep it at INFO whatever the root level.
    "loggers": {"django.request": {"level": "ERROR"}, "acme": {"level": "INFO"}},
}
