"""The bottom layer: errors, logging set-up, clocks and small shared values.

Everything else (``actors``, ``drivers``, ``switch``) may import from here; nothing here
imports any of them. Keep it small: a helper moves down here only when two packages of
different layers need it.
"""
