"""Stage 5, running it: one round end to end, the exporter's schedule and HTTP, watch."""
