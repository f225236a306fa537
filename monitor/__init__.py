"""dnsmon: a DNS dependency health monitor."""

__version__ = "0.1.0"
