"""gunicorn settings for ``trialkit serve``: JSON log lines on stderr like the application's own.

The access log names the request id (the ``X-Request-ID`` response header) so a request can be
followed from the load balancer to the application's log lines.
"""

import os

_json = os.environ.get("TRIALKIT_LOG_FORMAT", "json") != "text"

accesslog = "-" if os.environ.get("TRIALKIT_ACCESS_LOG", "1") != "0" else None
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
# A request that takes longer than this is cut off and its worker restarted.
timeout = int(os.environ.get("TRIALKIT_REQUEST_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# A long queue of connections waiting for a worker rather than refused ones (the kernel caps it).
backlog = 2048
forwarded_allow_ips = os.environ.get("TRIALKIT_FORWARDED_ALLOW_IPS", "127.0.0.1")

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "json" if _json else "text",
        },
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
}
control_socket_disable = True  # several servers may run on one machine


def post_worker_init(worker):
    """The application is loaded: what it made (modules, URL patterns, templates, protocols) lives as
    long as the worker. It is moved out of the garbage collector's passes (``gc.freeze``), which
    would otherwise walk all of it on every full collection, pausing the request being served
    (measured on a kept 5,000-participant network: a 123 ms full collection in a 208 ms request)."""
    import gc

    gc.collect()
    gc.freeze()
