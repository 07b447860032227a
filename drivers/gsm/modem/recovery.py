"""How the driver recovers a modem that stopped answering: escalation and backoff (pure).

A round of the run loop ends in trouble when the modem stops answering (two command
timeouts in a row), restarts under us (``RDY``/``^SYSSTART`` while ready), or its port
goes away. Consecutive troubled rounds escalate along :data:`ESCALATION`:

1. re-initialise on the same port (a modem that only lost its settings);
2. ``AT+CFUN=1,1`` (the modem's own reset), then close and reopen the port;
3. and every round after: close and reopen the port (an unplugged device is waited for
   until its path comes back).

A lost port is simply reopened. Between rounds the driver waits
:meth:`Recovery.delay` (:class:`base.backoff.Backoff`: ``retry_delay`` doubled per
round, capped at ``max_backoff``); after :data:`MAX_ROUNDS` rounds without a successful
set-up the modem is ``failed`` and the driver goes on trying at the capped pace. A
successful set-up starts the count again.
"""

from __future__ import annotations

from dataclasses import dataclass

from base.backoff import Backoff

__all__ = ["ESCALATION", "MAX_ROUNDS", "Recovery", "Step"]

MAX_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    hard_reset: bool  # AT+CFUN=1,1 before closing
    reopen: bool  # close the port; the next round opens it again


ESCALATION = (
    Step("reinitialise", hard_reset=False, reopen=False),
    Step("reset", hard_reset=True, reopen=True),
    Step("reopen", hard_reset=False, reopen=True),
)


class Recovery:
    def __init__(self, retry_delay: float, max_backoff: float) -> None:
        self.backoff = Backoff(initial=retry_delay, maximum=max_backoff, factor=2.0)
        self.rounds = 0  # consecutive rounds that ended in trouble

    def step(self) -> Step:
        """What to do about the trouble that ends the current round."""
        return ESCALATION[min(self.rounds, len(ESCALATION) - 1)]

    def succeeded(self) -> None:
        """The modem was set up: the next trouble starts the escalation again."""
        self.rounds = 0

    def failed(self) -> float:
        """Count the round that just ended; the wait before the next one."""
        self.rounds += 1
        return self.backoff.delay(self.rounds)

    @property
    def gave_up(self) -> bool:
        return self.rounds >= MAX_ROUNDS
