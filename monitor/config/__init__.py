"""Stage 1, the config: probes.yaml → validated, frozen dataclasses.

``load`` and ``parse`` are the entry points; every later stage reads only the
dataclasses of ``model``.
"""

from monitor.config.loader import ConfigError, load, parse, parse_duration
from monitor.config.model import (
    DEFAULT_CLIENTS,
    DEFAULTS,
    Alerting,
    Backup,
    ClientGroup,
    Config,
    Defaults,
    Name,
    Server,
    Service,
)

__all__ = [
    "DEFAULTS",
    "DEFAULT_CLIENTS",
    "Alerting",
    "Backup",
    "ClientGroup",
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
