"""A media worker process's entry point: arguments, the control socket, signals.

    python -m drivers.sip.media.worker --index I --socket PATH --sip-port P --rtp-port R \\
        --proxy HOST:PORT [--log-level info] [--answer-timeout 10] [--ring-timeout 180]
        [--health-interval 5] [--pump-ms 10] [--idle-pump-ms 100] [--first-leg 1]
        [--max-inbound 1]

Exit codes: 0 after a clean stop, 2 when the control socket cannot be reached, 3 when
pjsua2 does not start (e.g. the SIP port is taken; the reason is in the log).

Wires the worker's parts together (:mod:`.ua`, :mod:`.pump`); must not import asyncio,
the pool or the edge.
"""

from __future__ import annotations

import argparse
import signal
import socket
from typing import Any

import structlog

from base.logs import configure_logging
from drivers.sip.media.worker import pjglue
from drivers.sip.media.worker.legs import MAX_LEGS
from drivers.sip.media.worker.pump import ControlChannel, Pump
from drivers.sip.media.worker.ua import MediaAgent

__all__ = ["main"]

PROG = "python -m drivers.sip.media.worker"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=PROG, description="One pjsua2 media worker.")
    p.add_argument("--index", type=int, required=True, help="worker index (0-based)")
    p.add_argument("--socket", required=True, help="the core's Unix socket to connect to")
    p.add_argument("--sip-port", type=int, required=True, help="UDP port on 127.0.0.1")
    p.add_argument("--rtp-port", type=int, required=True, help=f"first of {pjglue.RTP_PORT_RANGE}")
    p.add_argument("--proxy", required=True, help="outbound proxy (the SIP edge) host:port")
    p.add_argument("--log-level", default="info", choices=sorted(pjglue.PJ_LOG_LEVELS))
    p.add_argument("--answer-timeout", type=float, default=10.0)
    p.add_argument("--ring-timeout", type=float, default=180.0)
    p.add_argument("--health-interval", type=float, default=5.0)
    p.add_argument("--pump-ms", type=int, default=10, help="libHandleEvents timeout")
    p.add_argument(
        "--idle-pump-ms", type=int, default=100, help="libHandleEvents timeout with no leg"
    )
    p.add_argument(
        "--first-leg", type=int, default=1, help="number of the first incoming leg (w<I>-<N>)"
    )
    p.add_argument(
        "--max-inbound",
        type=int,
        default=1,
        choices=range(1, MAX_LEGS),
        help="incoming calls held at once (the rest of the 4 legs stay free for dials)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    configure_logging(args.log_level)
    structlog.contextvars.bind_contextvars(worker=args.index)
    log = structlog.get_logger("sip.worker")
    pj = pjglue.load()  # the [sip] extra; no type stubs
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(args.socket)
    except OSError as exc:
        log.error("control_socket_connect_failed", socket=args.socket, error=str(exc))
        return 2
    channel = ControlChannel(sock, log)
    agent = MediaAgent(
        pj,
        index=args.index,
        emit=channel.emit,
        log=structlog.get_logger("sip.worker").bind(worker=args.index),
        sip_port=args.sip_port,
        rtp_port=args.rtp_port,
        proxy=args.proxy,
        answer_timeout=args.answer_timeout,
        ring_timeout=args.ring_timeout,
        pump_ms=args.pump_ms,
        idle_pump_ms=args.idle_pump_ms,
        log_level=args.log_level,
        first_leg=args.first_leg,
        max_inbound=args.max_inbound,
    )
    pump = Pump(agent, channel, health_interval=args.health_interval)

    def on_signal(signum: int, frame: Any) -> None:
        pump.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        agent.start()
    except Exception as exc:
        log.exception("worker_start_failed", error=str(exc))
        return 3
    code = pump.run()
    sock.close()
    return code
