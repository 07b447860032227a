"""What a media worker reads of an incoming SIP request: its Request-URI and headers.

pjsua2 hands the worker the INVITE as text (``rdata.wholeMsg``); :func:`parse_request`
splits its head into the Request-URI and the headers (unfolded, compact names expanded,
names lower-cased, values in order). Pure; must not import pjsua2 or the worker's other
modules.
"""

from __future__ import annotations

__all__ = ["parse_request"]

_COMPACT = {"f": "from", "t": "to", "i": "call-id", "m": "contact", "v": "via"}


def parse_request(raw: str) -> tuple[str, dict[str, list[str]], dict[str, str]]:
    """(request URI, lower-cased name -> values, lower-cased name -> name as sent)."""
    head = raw.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
    lines = head.replace("\r\n", "\n").split("\n")
    parts = lines[0].split(" ")
    ruri = parts[1] if len(parts) >= 3 else ""
    unfolded: list[str] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + line.strip()
        elif line:
            unfolded.append(line)
    values: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for line in unfolded:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip()
        key = _COMPACT.get(name.lower(), name.lower())
        values.setdefault(key, []).append(value.strip())
        names.setdefault(key, name)
    return ruri, values, names
