"""Stage 2, probing: the plan of queries, asking them with dnspython, and the results."""
