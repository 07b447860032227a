"""Why a call or a transfer ended, in the journey's words, from what the network said.

Pure tables: SIP codes and modem failures -> causes; the SIP code that refuses an
agent's own dial-out.
"""

from __future__ import annotations

# A modem's end of an unanswered outgoing call -> the call's cause, and the SIP code the
# agent's phone gets when it dialled the number itself (see ``refusal_code``).
MODEM_FAILURES: dict[str, tuple[str, int]] = {
    "busy": ("busy", 600),
    "no_answer": ("no_answer", 603),
    "no_carrier": ("rejected", 603),
    "rejected": ("rejected", 603),
    "remote_hangup": ("rejected", 603),
    "modem_busy": ("modem_busy", 600),
    "no_dialtone": ("no_network", 502),
    "dial_failed": ("dial_failed", 502),
}

# The edge takes these answers from a worker as "this worker is busy" and hands the
# INVITE to the next worker: an agent's dial-out that failed must be refused with a
# final answer the edge passes through to the phone.
_FAILOVER_CODES = {408: 603, 480: 603, 486: 600, 500: 502, 503: 502}

_SIP_CAUSES = {
    486: "busy",
    600: "busy",
    480: "no_answer",
    408: "no_answer",
    487: "cancelled",
    404: "not_found",
    403: "rejected",
    503: "unavailable",
}

_TRANSFER_WORDS = {
    "busy": "is busy",
    "no_answer": "did not answer",
    "cancelled": "did not answer",
    "not_found": "is not reachable (404)",
    "rejected": "refused the call (403)",
    "unavailable": "is unavailable (503)",
}


def refusal_code(code: int | None) -> int:
    """The SIP code refusing an agent's own dial-out (never one that fails over)."""
    value = code if code is not None and code >= 400 else 600
    return _FAILOVER_CODES.get(value, value)


def sip_cause(code: int | None, reason: str) -> str:
    if code is not None and code in _SIP_CAUSES:
        return _SIP_CAUSES[code]
    return reason or "failed"


def modem_failure(reason: str | None) -> tuple[str, int]:
    """(cause, SIP code) for a modem call that did not connect."""
    return MODEM_FAILURES.get(reason or "", (reason or "rejected", 603))


def transfer_failure(target: str, code: int | None, reason: str) -> str:
    """A sentence saying why a transfer's target did not take the call."""
    cause = sip_cause(code, reason)
    if cause in _TRANSFER_WORDS:
        return f"{target} {_TRANSFER_WORDS[cause]}"
    if code == 603:
        return f"{target} declined"
    return f"{target} failed: {code if code is not None else ''} {reason}".strip()
