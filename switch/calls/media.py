"""A call's media effects as commands for its media worker.

The call names agents, trunks and prompts; this module knows their SIP addresses and
files: an agent's phone is ``sip:<sip_user>@<edge listen>``, a number goes to
``sip:<number in the trunk's format>@<trunk host:port>`` with the trunk's first DID as
caller id, a prompt is a file: ``greeting`` and ``hold`` are ``[sip]``'s, any other name
is looked up by language in the prompts library (:mod:`switch.prompts`), and an
announcement's parts are joined into one file there.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from actors.call import effects as fx
from drivers.sip import TrunkSettings, builtin_sound, to_provider
from drivers.sip.media import ops
from switch.calls.records import recording_path
from switch.prompts import Prompts


def prompt_path(value: str | None) -> str | None:
    """A prompt's absolute path; ``builtin:<name>`` names a sound shipped with the switch."""
    if not value:
        return None
    if value.startswith("builtin:"):
        return str(builtin_sound(value.removeprefix("builtin:")))
    return str(Path(value).resolve())


class MediaCommands:
    def __init__(
        self,
        *,
        edge: str,
        phones: Mapping[str, str],
        trunks: Mapping[str, TrunkSettings],
        prompts: Mapping[str, str | None],
        recordings: Path,
        library: Prompts | None = None,
    ) -> None:
        self.edge = edge
        self.phones = dict(phones)  # agent id -> sip_user
        self.trunks = dict(trunks)
        self.prompts = dict(prompts)
        self.recordings = recordings
        self.library = library

    def agent_uri(self, agent: str) -> str:
        return f"sip:{self.phones[agent]}@{self.edge}"

    def number_uri(self, number: str, trunk: TrunkSettings) -> str:
        return f"sip:{to_provider(number, trunk)}@{trunk.host}:{trunk.port}"

    @staticmethod
    def caller_id(trunk: TrunkSettings) -> str | None:
        return trunk.dids[0].lstrip("+") if trunk.dids else None

    def prompt_file(self, prompt: str, language: str | None) -> str | None:
        if prompt in self.prompts:
            return self.prompts[prompt]
        found = self.library.find(prompt, language) if self.library else None
        return str(found) if found else None

    def command(
        self, call_id: str, effect: fx.MediaEffect, audio_port: str | None = None
    ) -> ops.MediaCommand | None:
        """The worker command for ``effect`` (None: nothing to send, e.g. no such prompt).

        May raise :class:`base.errors.Rejected` (a number the trunk cannot take)."""
        match effect:
            case fx.Answer(leg=leg):
                return ops.Answer(leg)
            case fx.Ring(leg=leg):
                return ops.Ring(leg)
            case fx.Reject(leg=leg, code=code):
                return ops.Reject(leg, code)
            case fx.Hangup(leg=leg):
                return ops.Hangup(leg)
            case fx.DialAgent(leg=leg, agent=agent, caller=caller):
                return ops.Dial(leg, self.agent_uri(agent), from_user=caller)
            case fx.DialNumber(leg=leg, number=number, trunk=trunk_id):
                trunk = self.trunks[trunk_id]
                uri = self.number_uri(number, trunk)
                return ops.Dial(leg, uri, from_user=self.caller_id(trunk))
            case fx.Bridge(a=a, b=b):
                return ops.Bridge(a, b)
            case fx.Unbridge(a=a, b=b):
                return ops.Unbridge(a, b)
            case fx.Play(leg=leg, prompt=prompt, loop=loop, language=language):
                path = self.prompt_file(prompt, language)
                return ops.Play(leg, path, loop=loop) if path else None
            case fx.PlayParts(leg=leg, parts=parts, language=language):
                made = self.library.parts(parts, language) if self.library else None
                return ops.Play(leg, str(made)) if made else None
            case fx.StopPlay(leg=leg):
                return ops.StopPlay(leg)
            case fx.RecordStart(leg=leg):
                return ops.RecordStart(leg, str(recording_path(self.recordings, call_id)))
            case fx.RecordStop(leg=leg):
                return ops.RecordStop(leg)
            case fx.PcmBridge(leg=leg):
                return ops.PcmBridge(leg, audio_port) if audio_port else None
            case fx.PcmUnbridge(leg=leg):
                return ops.PcmUnbridge(leg)
            case fx.ModemLeg(leg=leg):
                return ops.PcmLeg(leg, audio_port) if audio_port else None
        raise TypeError(f"not a media effect: {effect!r}")
