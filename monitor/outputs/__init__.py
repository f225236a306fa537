"""Stage 4, outputs: the JSON report, terminal text, metrics, status page, snapshots, logs."""
