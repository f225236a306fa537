"""Stage 1, the config: probes.yaml → validated, frozen dataclasses.

``load`` and ``parse`` are the entry points; every later stage reads only the
dataclasses of ``model``.
"""

from monitor.config.loader import ConfigError, load, parse, parse_duration
from monitor.config.model import (
    DEFAULTS,
    Alerting,
    Backup,
    Config,
    Defaults,
    Name,
    Server,
    Service,
)

__all__ = [
    "DEFAULTS",
    "Alerting",
    "Backup",
    "Config",
    "ConfigError",
    "Defaults",
    "Name",
    "Server",
    "Service",
    "load",
    "parse",
    "parse_duration",
]
