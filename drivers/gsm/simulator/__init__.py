"""A scripted GSM modem on a pseudo-terminal, for the demo, tests and technicians.

It answers like a Huawei E173, SIMCom SIM800 or Quectel EC25 in PDU mode, through a
real pty, so the switch's real driver (pyserial and all) talks to it. The port has a
stable path: a symlink the simulator creates (``<dir>/ttySIM0 -> /dev/pts/N``), which a
``[[modems]] port = ...`` config can name, and which survives unplug/replug.

In-process use (asyncio)
------------------------
::

    from drivers.gsm.simulator import Delivery, SimulatedModem

    sim = SimulatedModem(tmp_path / "ttySIM0", profile="huawei", storage_size=10,
                         timing={"cnma_timeout": 1.0, "report_delay": 0.1})
    await sim.start()                 # pty + symlink; powered, registered, SIM ready
    ...                               # the driver opens str(sim.link_path)
    await sim.deliver_sms("+85512345678", "hello", Delivery(order=(2, 1), duplicate=(1,)))
    sim.state()["sent"]               # what the driver sent with AT+CMGS
    await sim.stop()

``SimulatedModem(link_path, *, imei="861234567890123", iccid="8985501234567890123F",
imsi="456061234567890", operator="Smart", mccmnc="45606", csq=20, smsc="+85512000000",
storage_size=10, profile="huawei"|"simcom"|"quectel", pin=None, own_number=None,
clock=time.time, timing=None, require_cnma=True, status_reports="cnmi"|"cdsi",
interleave_urcs=False, ussd=None, utc_offset_hours=7.0, reset_replugs=False, name=None,
transcript_lines=500, audio=False, audio_tone_hz=1000.0, audio_amplitude=8000)``

- ``clock``: wall clock for SMS timestamps (SCTS) and logs; delays use the event loop.
- ``timing``: :class:`Timing` or a dict of its fields (seconds): ``cmgs_delay`` 0.05,
  ``report_delay`` 0.3, ``cnma_timeout`` 5.0, ``ussd_delay`` 0.2, ``reboot_time`` 0.5,
  ``ring_interval`` 2.0, ``dial_delay`` 0.1, ``answer_delay`` 0.5, ``ready_delay`` 0.05,
  ``command_delay`` 0.0 (every command line's final result comes that much later, as on
  a real modem: widens the windows a crash test aims at).
- ``require_cnma``: a ``+CMT`` / ``+CDS`` must be acknowledged with AT+CNMA (also when
  AT+CSMS=1); one is outstanding at a time; without an ack within ``cnma_timeout`` it is
  re-delivered. ``status_reports="cdsi"``: reports always go to the SIM (``+CDSI``).
- ``interleave_urcs``: URCs may appear in the middle of a command (after the echo,
  while the ``>`` prompt is open) instead of after its final result code.
- ``ussd``: ``{code: text | {"text", "ucs2", "menu": {input: reply}}}`` replacing the
  default table (``*124#`` balance in English, ``*100#`` in Khmer (UCS-2), ``*888#`` a
  menu answering ``1`` and ``2``).
- ``reset_replugs``: AT+CFUN=1,1 makes the port disappear and come back (as Huawei
  sticks re-enumerate on USB) instead of staying open.
- ``audio``: a second pty is the modem's voice port, ``<link>.audio`` (``audio_link_path``,
  ``audio_device``; created, unplugged and replugged with the AT port). While a call is
  active (after ``^CONN`` / ATA / the far end's answer) the "remote party" says a sine
  of ``audio_tone_hz`` (amplitude ``audio_amplitude``) as raw PCM: 8 kHz, 16-bit signed
  LE, mono, a 320-byte frame every 20 ms (``drivers.gsm.audio``); what is written to the
  port during the call is framed, counted and kept (last 10 s) for measuring. Stale
  audio is flushed when a call starts; outside calls nothing is sent. The sans-IO core
  is :class:`drivers.gsm.simulator.audio.CallAudio`.

Methods (sync unless marked; call them from the loop's thread):

- ``async start()``, ``async stop()``; ``link_path``, ``device`` (``/dev/pts/N``),
  ``plugged``, ``timing``, ``machine`` (the sans-IO core); ``async serve_control(path)``
  serves the control socket below from this process (closed by ``stop()``).
- ``async deliver_sms(sender, text, delivery=DEFAULT_DELIVERY) -> int`` (number of
  parts). How it is delivered is one frozen value, :class:`Delivery` (``order=None,
  duplicate=(), drop=(), mode="auto"|"cmti"|"cmt", ucs2=False, timestamp=None,
  reference=None, interval=0.0``; :mod:`drivers.gsm.simulator.delivery`). Parts are
  numbered from 1; ``order`` = part numbers in delivery order (omitted parts are not
  sent); ``duplicate`` parts are sent again after the others; ``drop`` parts never.
  ``mode="auto"`` follows AT+CNMI; ``"cmti"`` stores in the SIM whatever CNMI says;
  ``"cmt"`` always gives ``+CMT``. ``deliver_sms_now`` is the sync twin returning
  ``(parts, [pdu hex in delivery order])``.
- ``async deliver_raw_pdu(hex, *, mode="auto") -> "deliver"|"status_report"`` (any
  hex, undecodable included, for error paths).
- Faults: ``set_unresponsive(True|False)``, ``fail_next(prefix, response="ERROR",
  count=1)`` (``"AT+CMGS"``/``"+CMGS"``; response any final line, ``""`` = no answer; for
  CMGS/CMGW the prompt is still given and the PDU is answered with it),
  ``clear_failures() -> int`` (forget pending fail_next), ``garbage(bytes)``,
  ``unplug()``, ``replug()``, ``set_signal(csq)``, ``set_registration(stat 0..5)``,
  ``remove_sim()``, ``insert_sim()``.
- Network: ``set_outcome(destination|"*", "delivered"|"pending"|"failed"|tp_st|[...],
  *, submit_error=None)`` (a list gives one status report per item, ``report_delay``
  apart; ``submit_error=500`` makes CMGS answer ``+CMS ERROR: 500``),
  ``set_ussd(code, reply)``, ``set_timing(**seconds)``.
- Calls: ``incoming_call(number, *, ring_for=None) -> call id``, ``remote_hangup(call_id=
  None)``, ``remote_answer(call_id=None)``, ``set_call_behaviour(number|"*",
  "answer"|"busy"|"no_answer"|"reject"|"ring", *, delay=None)`` for ATD.
- Voice (``audio=True``): ``set_audio_tone(hz, amplitude=None)``, ``press_keys(digits)``
  (the remote party presses keys: DTMF tone pairs in band), ``audio_power(hz,
  seconds=None) -> {hz, power, rms, frames_received, active}`` (Goertzel power of ``hz``
  in what the modem heard in the current or last call; a tone of amplitude A gives
  about A²/4).
- Views: ``state() -> dict`` (below), ``sent`` (list of parts), ``transcript()`` (the
  last ``transcript_lines`` lines, each ``{"at": wall time, "dir", "text"}``).

``state()`` keys: ``profile imei iccid imsi powered booting responsive plugged link
device sim ("ready"|"sim_pin"|"sim_puk"|"not_inserted") registration csq cfun smsc
settings{echo cmee cnmi creg cscs clip} storage{used total slots[{index stat kind pdu}]}
network_pending cmt{sent acked unacked nacked outstanding} counters sent[{at destination
text reference part parts concat_reference encoding status_report_requested pdu}]
sent_messages[{destination text parts complete references}] status_reports[{reference
destination status}] calls[...] call_log[{id direction state number started_at
answered_at ended_at end_reason dtmf}] ussd[{request payload dcs answered}] next_mr
audio{enabled link device frames_dropped active tone_hz amplitude calls frames_sent
frames_skipped frames_received bytes_received bytes_outside_call heard_seconds
heard_rms}`` (``audio`` is ``{"enabled": false}`` without a voice port).

Standalone process and control socket
-------------------------------------
::

    python -m drivers.gsm.simulator --link /tmp/x/ttySIM0 --control /tmp/x/sim.sock \\
        [--profile huawei] [--pin 1234] [--storage-size 10] [--options '{json}']

prints ``{"ready": true, "link", "device", "control", "pid", "audio"}`` on stdout when
ready (``audio``: the voice port's path or null; ``--options '{"audio": true}'``). The
control socket speaks newline-delimited JSON: ``{"op": ..., ...}`` -> ``{"ok": true,
...}`` | ``{"ok": false, "error": "..."}``. Ops: ``state``, ``ping``, ``deliver_sms
{sender text order? duplicate? drop? mode? ucs2? timestamp? (ISO or epoch) reference?
interval?} -> {parts, pdus}``, ``deliver_raw_pdu {pdu mode?} -> {kind}``,
``set_unresponsive {value}``, ``fail_next {prefix response? count?}``, ``clear_failures
-> {cleared}``, ``garbage {hex | text}``, ``unplug``, ``replug -> {device}``,
``set_signal {csq}``, ``set_registration {stat}``, ``remove_sim``, ``insert_sim``,
``set_outcome {destination outcome submit_error?}``, ``set_ussd {code reply}``,
``set_timing {name: seconds...}``, ``incoming_call {number ring_for?} -> {call_id}``,
``remote_hangup {call_id?}``, ``remote_answer {call_id?}``, ``set_call_behaviour {number
behaviour delay?}``, ``transcript -> {lines}``, ``audio_power {hz seconds?} -> {hz power
rms frames_received active}``, ``set_audio_tone {hz amplitude?}``, ``press_keys {digits}``,
``shutdown``.

:class:`SimulatorClient` (``SimulatorClient(control_path)``) wraps them: ``await
client.request(op, **params)`` / ``client.request_sync(op, **params)`` and a method per
op (``deliver_sms(sender, text, delivery)``, ``state``, ``wait_for(predicate,
timeout=5)`` ...; ``state_sync``, ``deliver_sms_sync``, ``wait_for_sync``); the
``deliver_sms`` op carries :class:`Delivery`'s fields (``Delivery.to_json`` /
``from_json``). :class:`SimulatorProcess`
spawns the standalone process for tests: ``SimulatorProcess.spawn(tmp_path,
profile="simcom", options={...})`` -> ``.link``, ``.control``, ``.client``, ``.pid``,
``.kill()`` (SIGKILL), ``.terminate()``, ``.audio_link`` (both in
:mod:`drivers.gsm.simulator.client`). :class:`ControlServer(modem, path)` serves the ops
for an in-process modem (``await server.start()`` / ``stop()``); it knows the modem only
through :class:`ControlledModem`, the protocol of what the ops use.

:mod:`drivers.gsm.simulator.terminal` has :class:`RawTerminal(path)`, a bare async AT
terminal on plain os.read/os.write (``await term.command("AT+CSQ")`` returns the exact
bytes up to the final result code; ``read_until``, ``drain``; ``PortClosed`` on EIO).

Modules
-------
The pty shell (:mod:`.port`, :mod:`.voiceport`, :mod:`.ptys`) and the control socket
(:mod:`.control` server, :mod:`.client`) sit on the sans-IO core, :mod:`.machine`
(:class:`ModemMachine`: the terminal side, power and faults), which wires the parts:
:mod:`.atparse` (command lines, error results), :mod:`.commands` (the table from command
name to handler: adding a command is one entry), :mod:`.core` (clocks, timers, output,
settings, power flags), :mod:`.sim` (identity, PIN, storage slots), :mod:`.network`
(registration, signal), :mod:`.smsc` (incoming SMS and status reports, +CNMA, CMGS),
:mod:`.calls`, :mod:`.ussd`; :mod:`.profiles` holds the vendor dialects and
:mod:`.audio` the voice port's core. Imports point one way (an import-linter contract).

What the modem understands
--------------------------
AT, ATZ/AT&F, ATE0/1 (echo on at power-on), ATI, ATV1, ATQ0, AT&W, ATSn=, A/,
AT+CGMI/CGMM/CGMR/CGSN (+GMI...), AT+CIMI, AT+CCID (SIMCom prints bare digits),
AT^ICCID? (Huawei), AT+QCCID (Quectel), AT+CNUM, AT+CPIN? / AT+CPIN="pin" (3 tries, then
SIM PUK: AT+CPIN="12345678","newpin"), AT+CMEE=0|1|2, AT+CMGF=0 (=1 -> ERROR), AT+CSCS,
AT+CSMS, AT+CPMS ("SM" only), AT+CNMI, AT+CNMA[=0|1|2], AT+CSCA, AT+CSMP, AT+CSDH,
AT+CSQ, AT+CREG/CGREG (CEREG on Quectel only), AT+COPS, AT^SYSINFO (Huawei), AT+CFUN
(=1,1 reboots), AT+CPAS, AT+CCLK?, AT+CMGR, AT+CMGL[=0..4], AT+CMGD=i[,flag],
AT+CMGS=len (``\\r\\n> `` then hex + Ctrl-Z, ESC aborts with OK; length checked:
``+CMS ERROR: 304``), AT+CMGW, AT+CUSD, ATD<n>; ATA ATH AT+CHUP AT+CLCC AT+VTS
AT+CLIP AT+CRC AT+COLP, vendor set commands accepted with OK (^CURC, +CVHU, +QURCCFG...).
Unknown -> ``ERROR``. Commands chain with ``;``.

Per profile: SIM indexes from 0 (Huawei, Quectel) or 1 (SIMCom); AT+CMGR on an empty
slot -> bare OK (SIMCom) or ``+CMS ERROR: 321``; CMEE default 0 (SIMCom) else 1; CNMI
default 2,1,0,0,0 (SIMCom, Quectel) or 0,0,0,0,0 (Huawei); boot URCs after AT+CFUN=1,1:
``^SYSSTART`` (Huawei), ``RDY``/``+CFUN: 1``/``+CPIN: READY``/``Call Ready``/``SMS
Ready`` (SIMCom), ``RDY``/``+CFUN: 1``/``+CPIN: READY``/``+QUSIM: 1``/``+QIND: SMS
DONE``/``+QIND: PB DONE`` (Quectel); Huawei call URCs ``^ORIG ^CONF ^CONN ^CEND`` (no
NO CARRIER / BUSY), ``^RSSI`` on signal change, ``^SMMEMFULL: "SM"`` when storage
fills; Huawei USSD strings are packed GSM-7 hex, the others follow AT+CSCS (text, or
UCS-2 hex for ``UCS2`` and for UCS-2 replies, DCS 72).
"""

from drivers.gsm.simulator.calls import CallRecord
from drivers.gsm.simulator.client import SimulatorClient, SimulatorError, SimulatorProcess
from drivers.gsm.simulator.control import OPS, ControlledModem, ControlServer
from drivers.gsm.simulator.core import Timing
from drivers.gsm.simulator.delivery import DEFAULT_DELIVERY, Delivery
from drivers.gsm.simulator.machine import ModemMachine
from drivers.gsm.simulator.port import SimulatedModem
from drivers.gsm.simulator.profiles import PROFILES, Profile
from drivers.gsm.simulator.smsc import Outcome, SentPart
from drivers.gsm.simulator.ussd import DEFAULT_USSD, UssdReply

__all__ = [
    "DEFAULT_DELIVERY",
    "DEFAULT_USSD",
    "OPS",
    "PROFILES",
    "CallRecord",
    "ControlServer",
    "ControlledModem",
    "Delivery",
    "ModemMachine",
    "Outcome",
    "Profile",
    "SentPart",
    "SimulatedModem",
    "SimulatorClient",
    "SimulatorError",
    "SimulatorProcess",
    "Timing",
    "UssdReply",
]
