"""``python -m drivers.gsm.simulator``: a simulated modem in its own process.

    python -m drivers.gsm.simulator --link /tmp/x/ttySIM0 --control /tmp/x/sim.sock \\
        [--profile huawei|simcom|quectel] [--pin 1234] [--storage-size 10] \\
        [--imei ...] [--iccid ...] [--imsi ...] [--operator Smart] [--csq 20] \\
        [--smsc +85512000000] [--options '{"timing": {"cnma_timeout": 1.0}}']

Prints one JSON line on stdout once the link and the control socket exist
(``{"ready": true, "link": ..., "device": "/dev/pts/N", "control": ..., "pid": ...,
"audio": "<link>.audio" | null}``),
then logs JSON lines on stderr. SIGTERM / SIGINT or the ``shutdown`` op stop it cleanly
(link and socket removed); SIGKILL leaves them behind like any crash.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from typing import Any

from base.logs import configure_logging
from drivers.gsm.simulator.control import ControlServer
from drivers.gsm.simulator.port import SimulatedModem
from drivers.gsm.simulator.profiles import PROFILES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m drivers.gsm.simulator", description=__doc__)
    p.add_argument("--link", required=True, help="symlink to create for the pty (the port)")
    p.add_argument("--control", required=True, help="Unix socket for the JSON control API")
    p.add_argument("--profile", default="huawei", choices=sorted(PROFILES))
    p.add_argument("--pin")
    p.add_argument("--storage-size", type=int, default=10)
    p.add_argument("--imei", default="861234567890123")
    p.add_argument("--iccid", default="8985501234567890123F")
    p.add_argument("--imsi", default="456061234567890")
    p.add_argument("--operator", default="Smart")
    p.add_argument("--csq", type=int, default=20)
    p.add_argument("--smsc", default="+85512000000")
    p.add_argument(
        "--options",
        default="{}",
        help="JSON object of further SimulatedModem keyword arguments "
        '(e.g. {"timing": {"cnma_timeout": 1}, "ussd": {"*1#": "hi"}})',
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    options: dict[str, Any] = json.loads(args.options)
    if not isinstance(options, dict):
        raise SystemExit("--options must be a JSON object")
    # --options may repeat a flag (e.g. storage_size): the JSON value wins
    kwargs: dict[str, Any] = {
        "profile": args.profile,
        "pin": args.pin,
        "storage_size": args.storage_size,
        "imei": args.imei,
        "iccid": args.iccid,
        "imsi": args.imsi,
        "operator": args.operator,
        "csq": args.csq,
        "smsc": args.smsc,
    }
    kwargs.update(options)
    modem = SimulatedModem(args.link, **kwargs)
    await modem.start()
    server = ControlServer(modem, args.control)
    await server.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.shutdown_requested.set)
    ready = {
        "ready": True,
        "link": str(modem.link_path),
        "device": modem.device,
        "control": str(server.path),
        "pid": os.getpid(),
        "audio": str(modem.audio_link_path) if modem.audio is not None else None,
    }
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    try:
        await server.shutdown_requested.wait()
    finally:
        await server.stop()
        await modem.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.log_level)
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
