"""A call as a pure state machine: :func:`decide` takes the call's state, one message and
the time, and returns the new state and the effects to perform (media commands, journey
entries, agent events, timers). The call service (``switch.calls``) is the shell that
performs them and feeds their results back as messages; this package does no I/O and
imports nothing above the runtime.
"""

from actors.call.decide import decide
from actors.call.effects import Effect
from actors.call.messages import CallMessage
from actors.call.state import CallPolicy, CallState, TransferState

__all__ = ["CallMessage", "CallPolicy", "CallState", "Effect", "TransferState", "decide"]
