"""TCP, TLS and WebSocket transports of the edge, when configured, really listen."""

from __future__ import annotations

import asyncio
import base64
import secrets
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.integration.kamailio_harness import free_ports, needs_kamailio_and_sipp, running_edge

pytestmark = [
    pytest.mark.integration,
    needs_kamailio_and_sipp,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl for a test cert"),
]


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def options(host: str, port: int, transport: str) -> bytes:
    return (
        f"OPTIONS sip:{host}:{port};transport={transport.lower()} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:9;branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@127.0.0.1>;tag={secrets.token_hex(4)}\r\n"
        f"To: <sip:{host}:{port}>\r\n"
        f"Call-ID: {secrets.token_hex(10)}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def status_line(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0]


async def test_sip_over_tcp_tls_and_a_websocket_handshake_are_answered(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    tls_port = free_ports(1, tcp=True)
    ws_port = free_ports(1, tcp=True)
    extra = {
        "tls_listen": f"127.0.0.1:{tls_port}",
        "tls_cert": str(cert),
        "tls_key": str(key),
        "ws_listen": f"127.0.0.1:{ws_port}",
    }
    async with running_edge(workers=1, sip_overrides=extra) as edge:
        host, port = edge.sip.host, edge.sip.port

        def tcp() -> bytes:
            with socket.create_connection((host, port), timeout=3) as s:
                s.sendall(options(host, port, "TCP"))
                return status_line(s)

        def tls() -> bytes:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            with (
                socket.create_connection((host, tls_port), timeout=3) as raw,
                ctx.wrap_socket(raw) as s,
            ):
                s.sendall(options(host, tls_port, "TLS"))
                return status_line(s)

        def websocket() -> bytes:
            nonce = base64.b64encode(secrets.token_bytes(16)).decode()
            with socket.create_connection((host, ws_port), timeout=3) as s:
                s.sendall(
                    (
                        f"GET / HTTP/1.1\r\nHost: {host}:{ws_port}\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Protocol: sip\r\n\r\n"
                    ).encode()
                )
                return status_line(s)

        assert (await asyncio.to_thread(tcp)).startswith(b"SIP/2.0 200")
        assert (await asyncio.to_thread(tls)).startswith(b"SIP/2.0 200")
        assert (await asyncio.to_thread(websocket)).startswith(b"HTTP/1.1 101")


async def test_wss_without_a_certificate_gets_a_self_signed_one_at_first_start() -> None:
    wss_port = free_ports(1, tcp=True)
    async with running_edge(
        workers=1, sip_overrides={"wss_listen": f"127.0.0.1:{wss_port}"}
    ) as edge:
        host = edge.sip.host
        cert = edge.sup.rundir / "edge-cert.pem"
        assert cert.is_file() and (edge.sup.rundir / "edge-key.pem").stat().st_mode & 0o077 == 0

        def wss() -> tuple[bytes, bytes]:
            ctx = ssl.create_default_context(cafile=str(cert))  # the box's own certificate
            nonce = base64.b64encode(secrets.token_bytes(16)).decode()
            with (
                socket.create_connection((host, wss_port), timeout=3) as raw,
                ctx.wrap_socket(raw, server_hostname=host) as s,
            ):
                s.sendall(
                    (
                        f"GET / HTTP/1.1\r\nHost: {host}:{wss_port}\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Protocol: sip\r\n\r\n"
                    ).encode()
                )
                return status_line(s), s.getpeercert(binary_form=True) or b""

        line, der = await asyncio.to_thread(wss)
        assert line.startswith(b"HTTP/1.1 101")
        assert ssl.DER_cert_to_PEM_cert(der).strip() == cert.read_text().strip()
