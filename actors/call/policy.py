"""How calls are handled, from the config and the same for every call: IVR menus, what
a queue does with a waiting caller (announcements, questions), timings.

Values only; imports nothing of ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

DEFAULT_HUMAN = "queue:default"


@dataclass(frozen=True, slots=True)
class Menu:
    """An IVR menu (``[[ivr]]``): its prompt, one digit, ``retries`` replays."""

    id: str
    prompt: str
    timeout: float = 5.0  # seconds for a digit once the prompt has played
    retries: int = 2  # replays after an invalid digit or a timeout
    options: Mapping[str, str] = field(default_factory=dict)  # digit -> target
    language: str | None = None  # entering the menu sets the caller's language


@dataclass(frozen=True, slots=True)
class Question:
    """Something a waiting caller is asked (``[[queues]] questions``).

    ``digits``: digits until ``#`` (or ``max_length`` digits); ``choice``: one digit among
    ``options`` (digit -> what it means)."""

    id: str
    prompt: str
    kind: Literal["digits", "choice"] = "digits"
    max_length: int = 16
    options: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 8.0  # seconds after the prompt (and between digits)
    retries: int = 1


@dataclass(frozen=True, slots=True)
class WaitPolicy:
    """What a queue does for a caller while they wait."""

    announce_every: float | None = None  # position and expected wait, every N seconds
    questions: tuple[Question, ...] = ()


@dataclass(frozen=True, slots=True)
class CallPolicy:
    """How calls are handled; from the config, the same for every call."""

    greeting: bool = False
    hold_music: bool = False
    menu: Mapping[str, str] = field(default_factory=dict)  # digit -> skill
    ring_timeout: float = 20.0
    record: bool = False
    greeting_wait: float = 5.0  # from the answer: the greeting and time for a digit
    recording_wait: float = 10.0  # how long the journey waits for a recording's length
    missed_break: bool = True  # a ring not answered puts the agent on break ("missed")
    treatment_wait: float = 20.0  # the longest a treatment message plays
    menus: Mapping[str, Menu] = field(default_factory=dict)  # [[ivr]] by id
    human: str = DEFAULT_HUMAN  # where "0" leads when a menu does not say
    waiting: Mapping[str, WaitPolicy] = field(default_factory=dict)  # by queue id
    prompt_wait: float = 60.0  # the longest a menu's or question's prompt may play

    def wait_policy(self, queue: str) -> WaitPolicy:
        return self.waiting.get(queue) or _NO_WAIT


_NO_WAIT = WaitPolicy()
