"""``dnsmon demo``: embedded DNS servers for the example region and a replayed outage."""
