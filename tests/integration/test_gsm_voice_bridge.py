"""GSM voice: a media worker bridges a SIP leg with a (simulated) modem's PCM port.

The SIP side is a pjsua2 test phone (``tests/sipphone.py``) playing one tone and
recording what it hears; the GSM side is the simulated modem in its own process, in a
call, whose voice port (``<link>.audio``) plays another tone as the remote party and
measures what it hears. So the test tells which audio crossed the bridge in which
direction (Goertzel power at each side's frequency), not only that frames moved.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from base.errors import Rejected
from drivers.gsm.simulator import SimulatorProcess
from drivers.gsm.simulator.terminal import RawTerminal
from drivers.sip.media.pool import WorkerPool
from tests.sipphone import EventLog, Phone, free_udp_block, read_wav, tone_power, write_tone

pytestmark = pytest.mark.integration
pytest.importorskip("pjsua2")

PHONE_HZ, MODEM_HZ, PROMPT_HZ = 440.0, 1300.0, 900.0


@pytest.fixture
async def phone_port() -> int:
    return free_udp_block(1)


@pytest.fixture
async def pool(tmp_path: Path, phone_port: int) -> AsyncIterator[WorkerPool]:
    p = WorkerPool(
        1,
        socket_dir=tmp_path / "sock",
        proxy=f"127.0.0.1:{phone_port}",
        sip_port_base=free_udp_block(1),
        rtp_port_base=free_udp_block(50),
        log_level="warning",
    )
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
def modem(tmp_path: Path) -> Iterator[SimulatorProcess]:
    sim = SimulatorProcess.spawn(
        tmp_path / "sim",
        profile="simcom",
        options={"audio": True, "audio_tone_hz": MODEM_HZ, "timing": {"answer_delay": 0.1}},
    )
    yield sim
    sim.terminate()


async def modem_in_call(sim: SimulatorProcess, term: RawTerminal) -> None:
    """The modem dials out (as the driver would); the far end answers; audio starts."""
    await term.command("ATE0")
    assert (await term.command("ATD+85512345678;")).endswith("OK\r\n")
    await sim.client.wait_for(lambda s: s["audio"]["active"], timeout=10)


async def phone_leg(pool: WorkerPool, log: EventLog, phone_port: int, tmp_path: Path) -> Phone:
    """The worker dials the test phone (440 Hz, recording), which answers."""
    phone = await asyncio.to_thread(
        Phone,
        "--port",
        str(phone_port),
        "--rtp-port",
        str(free_udp_block(20)),
        "--tone",
        str(PHONE_HZ),
        "--record",
        str(tmp_path / "phone.wav"),
        "--auto-answer",
    )
    await pool.command(0, "dial", call="gsm-1", uri=f"sip:1001@127.0.0.1:{phone_port}")
    await log.wait("answered", call="gsm-1", timeout=20)
    await asyncio.to_thread(phone.wait_for, "state", 20, state="CONFIRMED")
    return phone


async def test_the_phone_hears_the_modem_and_the_modem_hears_the_phone(
    pool: WorkerPool, modem: SimulatorProcess, phone_port: int, tmp_path: Path
) -> None:
    log = EventLog(pool)
    audio_path = str(modem.audio_link)
    async with RawTerminal(modem.link) as term:
        await modem_in_call(modem, term)
        phone = await phone_leg(pool, log, phone_port, tmp_path)
        try:
            reply = await pool.command(0, "pcm_bridge", call="gsm-1", path=audio_path)
            assert reply["path"] == audio_path
            rec = tmp_path / "rec" / "gsm.wav"
            await pool.command(0, "record_start", call="gsm-1", path=str(rec))
            # both directions flow: wait for a couple of seconds of each
            await modem.client.wait_for(
                lambda s: s["audio"]["frames_received"] >= 100, timeout=30, interval=0.2
            )
            stats = await pool.command(0, "stats", call="gsm-1")
            assert stats["pcm"]["frames_from_modem"] > 0
            assert await asyncio.to_thread(phone.heard) > 5  # the modem's tone is audible

            heard = await modem.client.audio_power(PHONE_HZ, seconds=1.0)
            other = await modem.client.audio_power(MODEM_HZ, seconds=1.0)
            assert heard["power"] > 1e5  # the phone's tone reached the modem...
            assert heard["power"] > 100 * other["power"]  # ...and not the modem's own

            await pool.command(0, "record_stop", call="gsm-1")
            await log.wait("record_done", call="gsm-1", timeout=20)
            samples, rate = read_wav(rec)  # the recording holds both sides
            assert tone_power(samples, rate, PHONE_HZ) > 1e5
            assert tone_power(samples, rate, MODEM_HZ) > 1e5

            done = await pool.command(0, "pcm_unbridge", call="gsm-1")
            assert done["frames_from_modem"] >= 50 and done["frames_to_modem"] >= 50
            assert done["errors"] == 0 and done["callback_errors"] == 0
            # unbridged: the phone's tone no longer reaches the modem
            before = (await modem.client.state())["audio"]["frames_received"]
            await asyncio.sleep(0.5)
            assert (await modem.client.state())["audio"]["frames_received"] == before
            assert await asyncio.to_thread(phone.heard) <= 1

            with pytest.raises(Rejected, match="not bridged"):
                await pool.command(0, "pcm_unbridge", call="gsm-1")

            # bridged again, then the phone hangs up: the ended event has the counts
            await pool.command(0, "pcm_bridge", call="gsm-1", path=audio_path)
            await modem.client.wait_for(
                lambda s: s["audio"]["frames_received"] >= before + 25, timeout=30
            )
            phone.send("hangup")
            ended = await log.wait("ended", call="gsm-1", timeout=20)
            assert ended.args["pcm"]["frames_to_modem"] >= 25
            assert ended.args["pcm"]["path"] == audio_path
        finally:
            phone.close()
        await term.command("ATH")
    # what the phone recorded is the modem's tone, not its own
    samples, rate = read_wav(tmp_path / "phone.wav")
    assert tone_power(samples, rate, MODEM_HZ) > 1e5
    assert tone_power(samples, rate, MODEM_HZ) > 100 * tone_power(samples, rate, PHONE_HZ)


async def test_pcm_bridge_refuses_what_is_not_a_pcm_port(
    pool: WorkerPool, modem: SimulatorProcess, phone_port: int, tmp_path: Path
) -> None:
    log = EventLog(pool)
    with pytest.raises(Rejected, match="no such call"):
        await pool.command(0, "pcm_bridge", call="nope", path=str(modem.audio_link))
    phone = await phone_leg(pool, log, phone_port, tmp_path)
    try:
        with pytest.raises(Rejected, match="absolute"):
            await pool.command(0, "pcm_bridge", call="gsm-1", path="ttySIM0.audio")
        with pytest.raises(Rejected, match="no such device"):
            await pool.command(0, "pcm_bridge", call="gsm-1", path=str(tmp_path / "missing"))
        regular = tmp_path / "plain.raw"
        regular.write_bytes(b"\0" * 640)
        with pytest.raises(Rejected, match="not a character device"):
            await pool.command(0, "pcm_bridge", call="gsm-1", path=str(regular))
        await pool.command(0, "pcm_bridge", call="gsm-1", path=str(modem.audio_link))
        with pytest.raises(Rejected, match="already bridged"):
            await pool.command(0, "pcm_bridge", call="gsm-1", path=str(modem.audio_link))
        # the worker ends the leg itself: the port is closed with it
        await pool.command(0, "hangup", call="gsm-1")
        ended = await log.wait("ended", call="gsm-1", timeout=20)
        assert ended.args["by"] == "local" and ended.args["pcm"]["errors"] == 0
        await asyncio.to_thread(phone.wait_for, "ended", 20)
    finally:
        phone.close()
    # the worker is still healthy and idle again (no leg left: it can be reserved)
    await pool.command(0, "reserve", seconds=1.0)
    await pool.command(0, "release")


async def test_a_worker_stopped_mid_bridge_closes_the_port_and_exits_cleanly(
    pool: WorkerPool, modem: SimulatorProcess, phone_port: int, tmp_path: Path
) -> None:
    log = EventLog(pool)
    async with RawTerminal(modem.link) as term:
        await modem_in_call(modem, term)
        phone = await phone_leg(pool, log, phone_port, tmp_path)
        try:
            await pool.command(0, "pcm_bridge", call="gsm-1", path=str(modem.audio_link))
            await modem.client.wait_for(
                lambda s: s["audio"]["frames_received"] >= 25, timeout=30, interval=0.2
            )
            proc = pool._slots[0].proc
            assert proc is not None
            await pool.stop()
            assert proc.returncode == 0  # the PCM port was let go of before libDestroy
            await asyncio.to_thread(phone.wait_for, "ended", 20)
            # nothing writes to the modem's voice port any more
            before = (await modem.client.state())["audio"]["frames_received"]
            await asyncio.sleep(0.3)
            assert (await modem.client.state())["audio"]["frames_received"] == before
        finally:
            phone.close()
        await term.command("ATH")


async def test_a_modem_leg_hears_prompts_gives_keys_in_band_and_bridges_to_a_phone(
    pool: WorkerPool, modem: SimulatorProcess, phone_port: int, tmp_path: Path
) -> None:
    """A GSM caller in a menu: the worker's leg is the modem's PCM port itself."""
    log = EventLog(pool)
    prompt = tmp_path / "prompt.wav"
    write_tone(str(prompt), PROMPT_HZ, seconds=0.6)
    audio_path = str(modem.audio_link)
    async with RawTerminal(modem.link) as term:
        await modem_in_call(modem, term)
        await pool.command(0, "pcm_leg", call="m-1", path=audio_path)
        with pytest.raises(Rejected, match="in use"):
            await pool.command(0, "pcm_leg", call="m-1", path=audio_path)
        with pytest.raises(Rejected, match="hang it up"):
            await pool.command(0, "pcm_unbridge", call="m-1")
        with pytest.raises(Rejected, match="busy"):  # the worker holds a conversation
            await pool.command(0, "reserve", seconds=1.0)
        # the prompt plays to the modem, then play_done
        await pool.command(0, "play", call="m-1", file=str(prompt))
        await log.wait("play_done", call="m-1", timeout=10)
        heard = await modem.client.audio_power(PROMPT_HZ, seconds=1.0)
        assert heard["power"] > 1e5, heard
        # the caller's keys, in band, come back as dtmf events, each once
        await modem.client.press_keys("4#")
        first = await log.wait("dtmf", call="m-1", timeout=10)
        second = await log.wait("dtmf", call="m-1", timeout=10)
        assert (first.args["digit"], second.args["digit"]) == ("4", "#")
        assert first.args["method"] == "audio"
        # an agent: a SIP leg bridged with the modem leg; they hear each other
        phone = await phone_leg(pool, log, phone_port, tmp_path)
        try:
            await pool.command(0, "bridge", a="m-1", b="gsm-1")
            await asyncio.sleep(1.5)
            from_phone = await modem.client.audio_power(PHONE_HZ, seconds=1.0)
            own = await modem.client.audio_power(MODEM_HZ, seconds=1.0)
            assert from_phone["power"] > 1e5 and from_phone["power"] > 100 * own["power"]
            assert await asyncio.to_thread(phone.heard) > 5
            stats = await pool.command(0, "stats", call="m-1")
            assert stats["pcm"]["frames_from_modem"] > 0
            # hanging up the modem leg ends it (and closes the port); the phone stays
            await pool.command(0, "hangup", call="m-1")
            ended = await log.wait("ended", call="m-1", timeout=10)
            assert ended.args["by"] == "local" and ended.args["pcm"]["errors"] == 0
            before = (await modem.client.state())["audio"]["frames_received"]
            await asyncio.sleep(0.5)
            assert (await modem.client.state())["audio"]["frames_received"] == before
            await pool.command(0, "hangup", call="gsm-1")
            await log.wait("ended", call="gsm-1", timeout=10)
        finally:
            phone.close()
        await term.command("ATH")
    await pool.command(0, "reserve", seconds=1.0)  # no leg left: free again
    await pool.command(0, "release")
    samples, rate = read_wav(tmp_path / "phone.wav")  # the phone heard the caller
    assert tone_power(samples, rate, MODEM_HZ) > 1e5
