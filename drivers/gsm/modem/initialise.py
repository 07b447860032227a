"""Bringing a modem up: probe, identity, SIM and PIN, then the settings the driver needs.

Order: ESC (leave a ``>`` prompt a killed predecessor left open), ``AT`` probes,
``ATE0``, ``AT+CMEE=1``, identity (``AT+CGSN``, maker, model), ``AT+CPIN?`` (a
configured PIN is tried once, never twice: a wrong PIN retried locks the SIM), ICCID
(per profile), ``AT+CIMI``, the SMS settings (``AT+CMGF=0``, ``AT+CPMS="SM",...``, the
profile's ``AT+CNMI``), ``AT+CSCA`` (set from config if given, then read), the
reporting settings (``AT+CLIP=1``, ``AT+CREG=2``, ``AT+CEREG=2`` on LTE, the profile's
vendor strings). :meth:`Setup.restore` sends the settings again after a modem reset
them behind our back (see :mod:`drivers.gsm.modem.sms_settings`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from base.errors import ChannelUnavailable
from drivers.gsm.engine import cpin, csca
from drivers.gsm.modem.responses import digits, first_quoted, iccid, info
from drivers.gsm.modem.shell import SerialShell, Unresponsive
from drivers.gsm.modem.status import StatusBoard
from drivers.gsm.profiles import Profile
from drivers.gsm.settings import ModemSettings

__all__ = ["Setup"]


class Setup:
    def __init__(
        self,
        shell: SerialShell,
        status: StatusBoard,
        config: ModemSettings,
        profile: Profile,
        *,
        retry_delay: float,
        command_timeout: float,
        log: Any,
    ) -> None:
        self.shell = shell
        self.status = status
        self.config = config
        self.profile = profile
        self.retry_delay = retry_delay
        self.command_timeout = command_timeout
        self.log = log
        self.smsc: str | None = None
        self._pin_tried = False

    @property
    def sms_commands(self) -> tuple[str, ...]:
        return ("AT+CMGF=0", 'AT+CPMS="SM","SM","SM"', self.profile.cnmi)

    @property
    def reporting_commands(self) -> tuple[str, ...]:
        lte = ("AT+CEREG=2",) if self.profile.lte else ()
        return ("AT+CLIP=1", "AT+CREG=2", *lte, *self.profile.extra_init)

    async def modem(self) -> bool:
        """Probe and identify the modem; True when its SIM was set up too."""
        # A "> " prompt left open (a switch killed in the middle of AT+CMGS, a Ctrl-Z lost
        # on the line) swallows every command as PDU text: ESC leaves it without sending,
        # and an idle modem ignores ESC and the empty line.
        self.shell.write_raw(b"\x1b\r")
        await asyncio.sleep(0.05)
        probe = min(2.0, self.command_timeout)
        for _ in range(3):
            try:
                if (await self.shell.q("AT", probe)).ok:
                    break
            except ChannelUnavailable:
                continue
        else:
            raise Unresponsive("no answer to AT")
        self.shell.forgive()
        await self.shell.q("ATE0")
        await self.shell.q("AT+CMEE=1")
        imei = digits(info(await self.shell.q("AT+CGSN")))
        manufacturer = info(await self.shell.q("AT+CGMI"))
        model = info(await self.shell.q("AT+CGMM"))
        await self.status.set(imei=imei, manufacturer=manufacturer, model=model)
        ready = await self.sim_ready()
        if ready:
            await self.sim_setup()
        self.shell.forgive()  # timeouts during set-up that it survived
        return ready

    async def sim_ready(self) -> bool:
        for _ in range(5):
            done = await self.shell.q("AT+CPIN?")
            text = " ".join(done.lines).upper()
            if done.ok and "READY" in text:
                await self.status.set("sim_ready")
                return True
            if done.cme == 14 or "BUSY" in done.final.upper():  # SIM busy: wait
                await asyncio.sleep(min(1.0, self.retry_delay))
                continue
            if "PIN" in text and "PUK" not in text and "PIN2" not in text:
                if self.config.pin and not self._pin_tried:
                    self._pin_tried = True  # never twice: a wrong PIN retried locks the SIM
                    result = await self.shell.at(cpin(self.config.pin))
                    if result.ok:
                        await asyncio.sleep(min(1.0, self.retry_delay))
                        continue
                    self.status.error(f"SIM PIN refused ({result.final})")
                elif not self.config.pin:
                    self.status.error("the SIM asks for a PIN and none is configured")
                await self.status.set("pin_needed")
                return False
            if "PUK" in text:
                self.status.error("the SIM is locked (PUK required)")
                await self.status.set("pin_needed")
                return False
            self.status.error(f"SIM not usable: {text or done.final}")
            await self.status.set("sim_missing")
            return False
        self.status.error("the SIM stays busy")
        await self.status.set("sim_missing")
        return False

    async def sim_setup(self) -> None:
        found = None
        for line in self.profile.iccid_commands:
            done = await self.shell.q(line)
            if done.ok:
                found = iccid(done.lines)
                if found:
                    break
        imsi = digits(info(await self.shell.q("AT+CIMI")))
        await self.status.set(iccid=found, imsi=imsi)
        await self._apply(self.sms_commands, important=True)
        if self.config.smsc:
            done = await self.shell.at(csca(self.config.smsc))
            if not done.ok:
                self.status.error(f"setting the SMS centre refused: {done.final}")
        await self.read_smsc()
        await self._apply(self.reporting_commands, important=False)

    async def read_smsc(self) -> str | None:
        self.smsc = first_quoted(await self.shell.q("AT+CSCA?"))
        return self.smsc

    async def restore(self, csms: int | None) -> None:
        """The settings again, after the modem lost them (``csms``: its service too)."""
        await self._apply(("ATE0", "AT+CMEE=1"), important=False)
        await self._apply(self.sms_commands, important=True)
        if csms is not None:
            await self._apply((f"AT+CSMS={int(csms)}",), important=True)
        await self._apply(self.reporting_commands, important=False)

    async def _apply(self, lines: tuple[str, ...], *, important: bool) -> None:
        for line in lines:
            done = await self.shell.q(line)
            if done.ok:
                continue
            if important:
                self.status.error(f"{line} refused: {done.final}")
                self.log.warning("modem_setting_refused", command=line, answer=done.final)
            else:
                self.log.info("modem_setting_refused", command=line, answer=done.final)
