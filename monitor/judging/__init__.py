"""Stage 3, judging: results + the dependency graph → states, shared fate, runway, causes.

Pure: no sockets, no clocks but those passed in. ``impact`` and ``lint`` judge without
probing, through the same code.
"""
