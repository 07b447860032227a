"""The modem driver: the asyncio shell around :mod:`drivers.gsm.atcore` for one port.

Theory of operation
-------------------
:meth:`Modem.run` owns the port for the life of the switch: open (pyserial, the fd
watched by the event loop, no thread), initialise, then serve (health polling, inbound
SMS jobs, reassembly timeouts) until the port is lost or the modem stops answering; then
recover with backoff: re-initialise, ``AT+CFUN=1,1`` when the modem is hung, close and
reopen the port (waiting for an unplugged device to come back), and report ``failed``
after too many rounds while still retrying slowly.

Inbound SMS are **stored before they are deleted**: a part read from the SIM goes into
the reassembler; once its message is complete (or timed out), the sink records it
durably and only then are the SIM slots deleted. A crash in between leaves the parts on
the SIM; the sweep at the next start delivers them again with the same idempotency key,
which the core records once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import re
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

import serial
import structlog

from drivers.gsm.atcore import (
    LONG_TIMEOUT,
    AtEngine,
    Command,
    Done,
    Event,
    Garbage,
    Timeout,
    Urc,
    atd,
    cmgs,
    cusd,
    index_command,
    technician,
    vts,
)
from drivers.gsm.pdu import Deliver, StatusReport, decode_pdu, encode_submit, pdu_fingerprint
from drivers.gsm.quirks import load_quirks
from drivers.gsm.reassembly import CompleteMessage, Reassembler
from drivers.gsm.states import next_state
from drivers.gsm.ussd import decode_ussd, encode_ussd_request
from drivers.gsm.values import (
    Check,
    DeliveryReport,
    GsmCallEvent,
    InboundSms,
    ModemSink,
    ModemStatus,
    SmsSendError,
)
from switch.config import ModemConfig
from switch.errors import ChannelUnavailable, ProtocolError

# +CMS ERROR codes after which retrying the same message is pointless (27.005 §3.2.5,
# 24.011 annex E): bad destination, barred, not provisioned, invalid PDU...
PERMANENT_CMS = frozenset(
    {
        1,
        8,
        10,
        21,
        27,
        28,
        29,
        30,
        38,
        50,
        96,
        97,
        98,
        99,
        111,
        127,
        128,
        129,
        130,
        143,
        144,
        145,
        159,
        160,
        161,
        175,
        176,
        304,
        305,
        306,
    }
)
MAX_ROUNDS = 3


class _PortGone(Exception):
    pass


class _Unresponsive(Exception):
    pass


def csq_to_dbm(rssi: int) -> int | None:
    return -113 + 2 * rssi if 0 <= rssi <= 31 else None


class Modem:
    def __init__(
        self,
        config: ModemConfig,
        sink: ModemSink,
        *,
        clock: Callable[[], float] = time.monotonic,
        poll_interval: float = 15.0,
        reassembly_timeout: float = 600.0,
        retry_delay: float = 1.0,
        command_timeout: float = 5.0,
        resweep_delay: float = 5.0,
    ) -> None:
        self.config = config
        self.sink = sink
        self.clock = clock
        self.poll_interval = poll_interval
        self.retry_delay = retry_delay
        self.command_timeout = command_timeout
        self.resweep_delay = resweep_delay
        self.log = structlog.get_logger("gsm").bind(modem_id=config.id)
        self.engine = AtEngine()
        self._status = ModemStatus(config.id, "initialising")
        self._serial: Any = None
        self._fd: int | None = None
        self._outbuf = bytearray()
        self._lost: asyncio.Event | None = None
        self._reassembler = Reassembler(reassembly_timeout)
        self._held: set[int] = set()
        self._jobs: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._ussd: asyncio.Future[str] | None = None
        self._timeouts = 0
        self._pin_tried = False
        self._errors: deque[str] = deque(maxlen=10)
        self._call: dict[str, Any] | None = None
        self._call_seq = 0
        self._smsc: str | None = None
        self._storage: tuple[int, int] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.quirks = load_quirks(config.profile)

    # ------------------------------------------------------------------ state

    def status(self) -> ModemStatus:
        return self._status

    async def _set(self, event: str | None = None, **changes: Any) -> None:
        old = self._status
        state = next_state(old.state, event) if event else old.state
        new = ModemStatus(**{**_fields(old), **changes, "state": state})
        if new != old:
            self._status = new
            if new.state != old.state:
                self.log.info("modem_state", state=new.state, previous=old.state)
            with contextlib.suppress(Exception):
                await self.sink.modem_status(new)

    def _error(self, text: str) -> None:
        self._errors.append(text)
        self._status = ModemStatus(**{**_fields(self._status), "last_error": text})

    # ----------------------------------------------------------------- run loop

    async def run(self) -> None:
        rounds = 0
        while True:
            self._lost = asyncio.Event()
            try:
                self._open()
                await self._set("port_opened")
                await self._initialise()
                rounds = 0
                await self._serve()
            except asyncio.CancelledError:
                self._close()
                raise
            except (_PortGone, OSError, serial.SerialException) as exc:
                self._error(f"port: {exc}")
                self.log.warning("modem_port_lost", error=str(exc))
            except _Unresponsive as exc:
                self._error(f"unresponsive: {exc}")
                self.log.warning("modem_unresponsive", error=str(exc))
            except ProtocolError as exc:
                self._error(f"protocol: {exc}")
                self.log.warning("modem_protocol_error", error=str(exc))
            finally:
                self._stop_tasks()
                self._close()
            rounds += 1
            await self._set("port_lost")
            if rounds >= MAX_ROUNDS:
                await self._set("gave_up")
            await asyncio.sleep(min(30.0, self.retry_delay * 2 ** min(rounds - 1, 5)))

    def _open(self) -> None:
        if not os.path.exists(self.config.port):
            raise _PortGone(f"{self.config.port} does not exist")
        ser = serial.Serial(self.config.port, self.config.baudrate, timeout=0)
        self._serial = ser
        self._fd = ser.fileno()
        self.engine.reset()
        self._outbuf.clear()
        self._timeouts = 0
        asyncio.get_running_loop().add_reader(self._fd, self._readable)
        self.log.info("modem_port_opened", port=self.config.port)

    def _close(self) -> None:
        loop = asyncio.get_running_loop()
        if self._fd is not None:
            with contextlib.suppress(Exception):
                loop.remove_reader(self._fd)
            with contextlib.suppress(Exception):
                loop.remove_writer(self._fd)
        for command in self.engine.reset():
            future = command.tag
            if isinstance(future, asyncio.Future) and not future.done():
                future.set_exception(ChannelUnavailable("modem port closed"))
        if self._serial is not None:
            with contextlib.suppress(Exception):
                self._serial.close()
        self._serial = None
        self._fd = None
        self._held.clear()

    def _stop_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []

    async def _serve(self) -> None:
        assert self._lost is not None
        self._tasks = [
            asyncio.create_task(self._tick(), name=f"modem:{self.config.id}:tick"),
            asyncio.create_task(self._inbox(), name=f"modem:{self.config.id}:inbox"),
            asyncio.create_task(self._poll(), name=f"modem:{self.config.id}:poll"),
        ]
        await self._jobs.put(("sweep", None))
        await self._lost.wait()
        raise _Unresponsive("the modem stopped answering or the port went away")

    # ------------------------------------------------------------------- I/O

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            self._port_lost(str(exc))
            return
        if not data:
            self._port_lost("end of file")
            return
        self._dispatch(self.engine.receive_data(data, self.clock()))

    def _port_lost(self, why: str) -> None:
        self.log.warning("modem_port_error", error=why)
        if self._fd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._fd)
        if self._lost is not None:
            self._lost.set()

    def _flush(self) -> None:
        self._outbuf += self.engine.data_to_send()
        if not self._outbuf or self._fd is None:
            return
        try:
            written = os.write(self._fd, bytes(self._outbuf))
        except BlockingIOError:
            written = 0
        except OSError as exc:
            self._port_lost(str(exc))
            return
        del self._outbuf[:written]
        if self._outbuf:
            asyncio.get_running_loop().add_writer(self._fd, self._writable)

    def _writable(self) -> None:
        if self._fd is not None:
            asyncio.get_running_loop().remove_writer(self._fd)
        self._flush()

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Done):
                self._timeouts = 0
                future = event.command.tag
                if isinstance(future, asyncio.Future) and not future.done():
                    future.set_result(event)
            elif isinstance(event, Timeout):
                self._timeouts += 1
                self._error(f"timeout: {event.command.line}")
                future = event.command.tag
                if isinstance(future, asyncio.Future) and not future.done():
                    future.set_exception(ChannelUnavailable(f"no answer to {event.command.line}"))
                if self._timeouts >= 2 and self._lost is not None:
                    self._lost.set()
            elif isinstance(event, Urc):
                try:
                    self._urc(event)
                except Exception as exc:  # a malformed URC must not stop the driver
                    self.log.warning("modem_bad_urc", urc=event.text, error=repr(exc))
            elif isinstance(event, Garbage):
                self.log.info("modem_garbage", line=event.line[:120])
        self._flush()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            self._dispatch(self.engine.check_timeouts(self.clock()))
            deadline = self._reassembler.next_deadline()
            if deadline is not None and deadline <= self.clock():
                await self._jobs.put(("expire", None))

    async def _at(self, command: Command) -> Done:
        if self._fd is None:
            raise ChannelUnavailable(f"modem {self.config.id} is not connected")
        future: asyncio.Future[Done] = asyncio.get_running_loop().create_future()
        command.tag = future
        self.engine.send(command, self.clock())
        self._flush()
        return await future

    async def _q(self, line: str, timeout: float | None = None) -> Done:
        return await self._at(Command(line, timeout or self.command_timeout))

    # ------------------------------------------------------------ initialise

    async def _initialise(self) -> None:
        for attempt in range(3):
            try:
                done = await self._q("AT", min(2.0, self.command_timeout))
                if done.ok:
                    break
            except ChannelUnavailable:
                pass
            if attempt == 1:  # hung: ask for a full reset, then reopen
                self.log.warning("modem_reset", command="AT+CFUN=1,1")
                with contextlib.suppress(ChannelUnavailable):
                    await self._q("AT+CFUN=1,1", 10.0)
                raise _Unresponsive("no answer to AT; reset requested")
        else:
            raise _Unresponsive("no answer to AT")
        self._timeouts = 0
        await self._q("ATE0")
        await self._q("AT+CMEE=1")
        imei = _info(await self._q("AT+CGSN"))
        manufacturer = _info(await self._q("AT+CGMI"))
        model = _info(await self._q("AT+CGMM"))
        await self._set(imei=_digits(imei), manufacturer=manufacturer, model=model)
        if not await self._sim_ready():
            return
        await self._sim_setup()

    async def _sim_ready(self) -> bool:
        done = await self._q("AT+CPIN?")
        text = " ".join(done.lines)
        if done.ok and "READY" in text:
            await self._set("sim_ready")
            return True
        if not done.ok and done.cme in (10, 13, 14):
            await self._set("sim_missing")
            return False
        if "SIM PIN" in text:
            if self.config.pin and not self._pin_tried:
                self._pin_tried = True  # never twice: a wrong PIN retried locks the SIM
                result = await self._q(f'AT+CPIN="{self.config.pin}"', 10.0)
                if result.ok:
                    await asyncio.sleep(1.0)
                    return await self._sim_ready()
                self._error(f"SIM PIN refused ({result.final})")
            await self._set("pin_needed")
            return False
        self._error(f"SIM state: {text or done.final}")
        await self._set("sim_missing")
        return False

    async def _sim_setup(self) -> None:
        iccid = None
        for line in self.quirks.iccid_commands:
            done = await self._q(line)
            if done.ok:
                iccid = _iccid(done.lines)
                if iccid:
                    break
        imsi = _digits(_info(await self._q("AT+CIMI")))
        await self._set(iccid=iccid, imsi=imsi)
        for line in self.quirks.init:
            done = await self._q(line)
            if not done.ok:
                self.log.info("modem_setting_refused", command=line, answer=done.final)
        if self.config.smsc:
            await self._q(f'AT+CSCA="{self.config.smsc}",145')
        done = await self._q("AT+CSCA?")
        m = re.search(r'"([^"]*)"', " ".join(done.lines))
        self._smsc = m.group(1) if m else None
        await self._health()

    # ------------------------------------------------------------------ health

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                if self._status.state in ("no_sim", "pin_required"):
                    if await self._sim_ready():
                        await self._sim_setup()
                else:
                    await self._health()
            except ChannelUnavailable as exc:
                self.log.info("modem_poll_failed", error=str(exc))

    async def _health(self) -> None:
        csq = await self._q("AT+CSQ")
        m = re.search(r"\+CSQ:\s*(\d+)", " ".join(csq.lines))
        signal = csq_to_dbm(int(m.group(1))) if m else None
        creg = await self._q("AT+CREG?")
        stat = _creg_stat(" ".join(creg.lines), solicited=True)
        cops = await self._q("AT+COPS?")
        m2 = re.search(r'"([^"]*)"', " ".join(cops.lines))
        operator = m2.group(1) if m2 else None
        cpms = await self._q("AT+CPMS?")
        m3 = re.search(r'"SM",(\d+),(\d+)', " ".join(cpms.lines))
        self._storage = (int(m3.group(1)), int(m3.group(2))) if m3 else None
        await self._registration(stat, signal_dbm=signal, operator=operator)
        if self._storage and self._storage[0] >= self._storage[1]:
            await self._jobs.put(("sweep", None))

    async def _registration(self, stat: int | None, **changes: Any) -> None:
        registered = stat in (1, 5)
        event = "registered" if registered else ("denied" if stat == 3 else "searching")
        if self._status.state in ("no_sim", "pin_required", "disconnected", "failed"):
            await self._set(None, registered=registered, **changes)
            return
        await self._set(event, registered=registered, **changes)

    # ------------------------------------------------------------------- URCs

    def _urc(self, urc: Urc) -> None:
        kind, args = urc.kind, urc.args
        if kind == "+CMTI":
            self._jobs.put_nowait(("read", _index(args)))
        elif kind == "+CDSI":
            self._jobs.put_nowait(("cdsi", _index(args)))
        elif kind == "+CMT" and urc.pdu:
            self._jobs.put_nowait(("cmt", urc.pdu))
        elif kind == "+CDS" and urc.pdu:
            self._jobs.put_nowait(("cds", urc.pdu))
        elif kind == "+CUSD":
            self._ussd_answer(args)
        elif kind in ("+CREG", "+CEREG", "+CGREG"):
            stat = _creg_stat(urc.text, solicited=False)
            if kind == "+CREG" and stat is not None:
                self._jobs.put_nowait(("registration", stat))
        elif kind in ("^SMMEMFULL",) or (kind == "+CIEV" and "smsfull" in args.lower()):
            self._jobs.put_nowait(("sweep", None))
        elif kind in ("RING", "+CRING"):
            self._incoming(None)
        elif kind == "+CLIP":
            m = re.match(r'"([^"]*)"', args)
            self._incoming(m.group(1) if m else None)
        elif kind == "^ORIG":
            self._call_event("dialing", self._call["number"] if self._call else None)
        elif kind == "^CONN":
            self._call_event("answered", self._call["number"] if self._call else None)
        elif kind in ("^CEND", "NO CARRIER", "BUSY", "NO ANSWER"):
            if self._call is not None:
                self._call_event("ended", self._call["number"], cause=kind.strip("^").lower())
                self._call = None
        elif kind in ("RDY", "^SYSSTART") and self._status.state == "ready" and self._lost:
            self.log.warning("modem_rebooted")
            self._lost.set()

    def _incoming(self, number: str | None) -> None:
        if self._call is None:
            self._call_seq += 1
            self._call = {"id": str(self._call_seq), "number": number, "announced": False}
        if number and not self._call["number"]:
            self._call["number"] = number
        if not self._call["announced"] and self._call["number"]:
            self._call["announced"] = True
            self._call_event("incoming", self._call["number"])

    def _call_event(self, kind: str, number: str | None, cause: str | None = None) -> None:
        if self._call is None:
            self._call_seq += 1
            self._call = {"id": str(self._call_seq), "number": number, "announced": True}
        event = GsmCallEvent(self.config.id, self._call["id"], kind, number, cause)
        self._jobs.put_nowait(("call", event))

    def _ussd_answer(self, args: str) -> None:
        m = re.match(r'(\d)(?:,"([^"]*)"(?:,(\d+))?)?', args)
        future = self._ussd
        if future is None or future.done():
            return
        if not m or m.group(2) is None:
            future.set_exception(ChannelUnavailable(f"USSD ended without an answer ({args})"))
            return
        try:
            future.set_result(decode_ussd(m.group(2), int(m.group(3) or 15)))
        except ProtocolError as exc:
            future.set_exception(exc)

    # ------------------------------------------------------------------ inbox

    async def _inbox(self) -> None:
        while True:
            job, arg = await self._jobs.get()
            try:
                await self._job(job, arg)
            except ChannelUnavailable as exc:
                self.log.warning("modem_job_failed", job=job, error=str(exc))
            except Exception as exc:  # the sink or a decoder failed: keep the SIM copy
                self.log.error("modem_job_crashed", job=job, error=repr(exc), exc_info=exc)

    async def _job(self, job: str, arg: Any) -> None:
        if job == "read":
            if arg is None or arg in self._held:
                return
            done = await self._at(index_command("CMGR", arg))
            if done.ok and len(done.lines) >= 2:
                await self._part(done.lines[1], arg)
        elif job == "sweep":
            done = await self._at(Command("AT+CMGL=4", 30.0))
            for index, pdu in _listing(done.lines):
                if index not in self._held:
                    await self._part(pdu, index)
        elif job == "cmt":
            await self._part(arg, None)
            await self._q("AT+CNMA")
        elif job == "cds":
            await self._report(arg)
            await self._q("AT+CNMA")
        elif job == "cdsi":
            done = await self._at(index_command("CMGR", arg))
            if done.ok and len(done.lines) >= 2:
                await self._report(done.lines[1])
            await self._at(index_command("CMGD", arg))
        elif job == "expire":
            for message in self._reassembler.expire(self.clock()):
                await self._deliver(message)
        elif job == "registration":
            await self._registration(arg)
        elif job == "call":
            await self.sink.call_event(arg)

    async def _part(self, pdu: str, slot: int | None) -> None:
        try:
            decoded = decode_pdu(pdu)
        except ProtocolError as exc:
            # Nothing readable in it: say exactly what is dropped, then free the slot.
            self.log.error("sms_undecodable_dropped", slot=slot, pdu=pdu[:400], error=str(exc))
            if slot is not None:
                await self._at(index_command("CMGD", slot))
            return
        if isinstance(decoded, StatusReport):
            await self._report_decoded(decoded)
            if slot is not None:
                await self._at(index_command("CMGD", slot))
            return
        assert isinstance(decoded, Deliver)
        fingerprint = pdu_fingerprint(pdu)
        if self.sink.part_stored(self._part_key(fingerprint)):
            # Already part of a stored message: only its delete was missing.
            self.log.info("sms_part_already_stored", slot=slot)
            if slot is not None:
                await self._at(index_command("CMGD", slot))
            return
        if slot is not None:
            self._held.add(slot)
        meta = (slot, fingerprint, decoded.timestamp)
        complete = self._reassembler.add(
            decoded.sender, decoded.concat, decoded.text, self.clock(), meta
        )
        for dup in self._reassembler.take_discarded():
            dup_slot = dup[0] if isinstance(dup, tuple) else None
            if dup_slot is not None:
                await self._at(index_command("CMGD", dup_slot))
                self._held.discard(dup_slot)
        if complete is not None:
            await self._deliver(complete)

    async def _deliver(self, message: CompleteMessage) -> None:
        metas = [m for m in message.metas if isinstance(m, tuple)]
        identity = self._status.imsi or self._status.iccid or self._status.imei or self.config.id
        fingerprints = sorted(str(m[1]) for m in metas)
        key = hashlib.sha256("|".join([identity, *fingerprints]).encode()).hexdigest()
        stamp = next((m[2] for m in metas if isinstance(m[2], datetime)), None)
        sms = InboundSms(
            modem_id=self.config.id,
            sender=message.sender,
            text=message.text,
            parts=message.parts,
            incomplete=message.incomplete,
            missing=tuple(message.missing),
            idempotency_key=key,
            smsc_timestamp=stamp,
            received_at=time.time(),
        )
        slots = [m[0] for m in metas if m[0] is not None]
        sms = dataclasses.replace(sms, part_keys=tuple(self._part_key(str(m[1])) for m in metas))
        try:
            await self.sink.sms_received(sms)
        except Exception as exc:
            # Not stored: the SIM keeps every part; the next sweep delivers it again.
            self.log.error("sms_not_stored_kept_on_sim", slots=slots, error=repr(exc))
            for slot in slots:
                self._held.discard(slot)
            asyncio.get_running_loop().call_later(
                self.resweep_delay, lambda: self._jobs.put_nowait(("sweep", None))
            )
            return
        for slot in slots:
            await self._at(index_command("CMGD", slot))
            self._held.discard(slot)

    def _part_key(self, fingerprint: str) -> str:
        identity = self._status.imsi or self._status.iccid or self._status.imei or self.config.id
        return hashlib.sha256(f"{identity}|{fingerprint}".encode()).hexdigest()

    async def _report(self, pdu: str) -> None:
        try:
            decoded = decode_pdu(pdu)
        except ProtocolError as exc:
            self.log.error("status_report_undecodable", pdu=pdu[:400], error=str(exc))
            return
        if isinstance(decoded, StatusReport):
            await self._report_decoded(decoded)

    async def _report_decoded(self, report: StatusReport) -> None:
        await self.sink.status_report(
            self.config.id,
            DeliveryReport(
                self.config.id,
                report.message_reference,
                report.recipient,
                report.outcome,
                report.status,
            ),
        )

    # ------------------------------------------------------------ outbound

    def _require_ready(self) -> None:
        if self._status.state != "ready" or self._fd is None:
            raise ChannelUnavailable(f"modem {self.config.id} is {self._status.state}")

    async def send_sms(
        self, to: str, text: str, *, reference: int, status_report: bool = True
    ) -> list[int]:
        self._require_ready()
        parts = encode_submit(to, text, reference=reference, request_status_report=status_report)
        references: list[int] = []
        for part in parts:
            done = await self._at(cmgs(part.hex, part.tpdu_length))
            if not done.ok:
                permanent = done.cms in PERMANENT_CMS
                raise SmsSendError(
                    f"part {part.part}/{part.parts}: {done.final}", done.cms, permanent
                )
            m = re.search(r"\+CMGS:\s*(\d+)", " ".join(done.lines))
            if not m:
                raise SmsSendError("the modem did not give a message reference", None, False)
            references.append(int(m.group(1)))
        return references

    async def ussd(self, code: str, timeout: float = 60.0) -> str:
        self._require_ready()
        payload, dcs = encode_ussd_request(code, hex_mode=False)
        self._ussd = asyncio.get_running_loop().create_future()
        try:
            done = await self._at(cusd(payload, dcs))
            if not done.ok:
                raise ChannelUnavailable(f"USSD refused: {done.final}")
            return await asyncio.wait_for(self._ussd, timeout)
        except TimeoutError:
            raise ChannelUnavailable(f"no USSD answer within {timeout:.0f} s") from None
        finally:
            self._ussd = None

    async def raw_at(self, line: str) -> list[str]:
        command = technician(line)  # ValueError for anything but one printable AT line
        done = await self._at(command)
        return [*done.lines, done.final]

    async def dial(self, number: str) -> None:
        self._require_ready()
        done = await self._at(atd(number))
        if not done.ok:
            raise ChannelUnavailable(f"dial failed: {done.final}")
        self._call_seq += 1
        self._call = {"id": str(self._call_seq), "number": number, "announced": True}
        self._call_event("dialing", number)

    async def answer(self) -> None:
        done = await self._at(Command("ATA", LONG_TIMEOUT))
        if done.ok and self._call is not None:
            self._call_event("answered", self._call["number"])

    async def hangup(self) -> None:
        await self._q("ATH")
        if self._call is not None:
            self._call_event("ended", self._call["number"], cause="local_hangup")
            self._call = None

    async def send_dtmf(self, digits: str) -> None:
        for digit in digits:
            await self._at(vts(digit))

    async def diagnose(self) -> list[Check]:
        st = self._status
        checks = [
            Check(
                "port",
                "ok" if self._fd is not None else "fail",
                f"{self.config.port} open"
                if self._fd is not None
                else f"{self.config.port} is not open ({st.last_error or 'not connected'})",
            ),
            Check(
                "modem",
                "ok" if st.imei else "warn",
                f"{st.manufacturer or '?'} {st.model or '?'}, IMEI {st.imei or 'unknown'}",
            ),
        ]
        sim = {
            "no_sim": ("fail", "no SIM card detected"),
            "pin_required": ("fail", "the SIM asks for a PIN (set pin in the config)"),
        }
        status, detail = sim.get(st.state, ("ok", f"SIM present, ICCID {st.iccid or '?'}"))
        checks.append(Check("sim", status, detail))
        reg = (
            ("ok", f"registered on {st.operator or 'the network'}")
            if st.registered
            else (
                ("fail", "registration denied by the network")
                if st.state == "denied"
                else ("warn", "not registered: searching for a network")
            )
        )
        checks.append(Check("registration", *reg))
        if st.signal_dbm is None:
            checks.append(Check("signal", "warn", "signal unknown"))
        else:
            level = "ok" if st.signal_dbm >= -95 else "warn"
            checks.append(
                Check(
                    "signal",
                    level,
                    f"{st.signal_dbm} dBm" + ("" if level == "ok" else " (weak: move the antenna)"),
                )
            )
        checks.append(
            Check(
                "smsc",
                "ok" if self._smsc else "warn",
                f"SMS centre {self._smsc}" if self._smsc else "no SMS centre set",
            )
        )
        if self._storage:
            used, total = self._storage
            checks.append(
                Check(
                    "storage", "ok" if used < total else "warn", f"{used} of {total} SIM slots used"
                )
            )
        errors = list(self._errors)[-3:]
        checks.append(
            Check(
                "last_errors",
                "ok" if not errors else "warn",
                "; ".join(errors) if errors else "none",
            )
        )
        return checks


# ----------------------------------------------------------------- parsing


def _fields(status: ModemStatus) -> dict[str, Any]:
    return {name: getattr(status, name) for name in status.__dataclass_fields__}


def _info(done: Done) -> str | None:
    for line in done.lines:
        text = line.split(":", 1)[1].strip() if line.startswith(("+", "^")) else line.strip()
        if text:
            return text.strip('"')
    return None


def _digits(text: str | None) -> str | None:
    if not text:
        return None
    digits = re.sub(r"[^0-9]", "", text)
    return digits or None


def _iccid(lines: list[str]) -> str | None:
    for line in lines:
        text = line.split(":", 1)[1] if ":" in line else line
        m = re.search(r"([0-9]{18,20})[Ff]*", text.replace('"', ""))
        if m:
            return m.group(1)
    return None


def _index(args: str) -> int | None:
    m = re.search(r",\s*(\d+)\s*$", args)
    return int(m.group(1)) if m else None


def _creg_stat(text: str, *, solicited: bool) -> int | None:
    m = re.search(r"\+C(?:E|G)?REG:\s*([^\r\n]*)", text)
    if not m:
        return None
    fields = [f.strip().strip('"') for f in m.group(1).split(",")]
    try:
        return int(fields[1] if solicited and len(fields) > 1 else fields[0])
    except (ValueError, IndexError):
        return None


def _listing(lines: list[str]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        if line.startswith("+CMGL:") and i + 1 < len(lines):
            m = re.match(r"\+CMGL:\s*(\d+)", line)
            if m and re.fullmatch(r"[0-9A-Fa-f]+", lines[i + 1]):
                out.append((int(m.group(1)), lines[i + 1]))
    return out
