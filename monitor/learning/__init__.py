"""Stage beside probing, learning: who resolves what, from the resolvers' own traffic.

Readers turn dnstap and query logs into ``Message``s; ``owners`` attributes each to the
services, backups and client groups whose addresses hold its client; ``aggregate`` keeps
counts per owner, name and type (never a client address); ``findings`` holds them
against the map.
"""
