"""A self-signed certificate for the edge's TLS/WSS port when the config gives none.

For the demo and first starts: browsers reach the WebSocket port over WSS, which needs
a certificate. Real deployments set ``[sip] tls_cert`` / ``tls_key``; without them the
switch makes one (``openssl req -x509``, EC P-256, 825 days, the listen host as
subject and subjectAltName) under the run directory at the first start and reuses it
afterwards. Browsers do not trust it: open ``https://<host>:<wss port>/`` once and
accept it, or put a real certificate in the config.

Runs ``openssl`` (a subprocess); imports nothing of the supervisor or the media plane.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from pathlib import Path

from base.errors import ChannelUnavailable

__all__ = ["CERT_FILE", "KEY_FILE", "ensure_self_signed"]

CERT_FILE = "edge-cert.pem"
KEY_FILE = "edge-key.pem"
DAYS = 825


def ensure_self_signed(directory: Path, host: str, openssl: str = "openssl") -> tuple[Path, Path]:
    """``(cert, key)`` in ``directory``, made now if they are not there yet."""
    cert, key = directory / CERT_FILE, directory / KEY_FILE
    if cert.is_file() and key.is_file():
        return cert, key
    directory.mkdir(parents=True, exist_ok=True)
    try:
        ipaddress.ip_address(host.strip("[]"))
        san = f"IP:{host.strip('[]')}"
    except ValueError:
        san = f"DNS:{host}"
    tmp_key, tmp_cert = key.with_suffix(".tmp"), cert.with_suffix(".tmp")
    argv = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-days", str(DAYS), "-subj", f"/CN={host.strip('[]')}",
        "-addext", f"subjectAltName={san}", "-keyout", str(tmp_key), "-out", str(tmp_cert),
    ]  # fmt: skip
    old_umask = os.umask(0o077)
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ChannelUnavailable(f"cannot make a TLS certificate with {openssl}: {exc}") from None
    finally:
        os.umask(old_umask)
    if result.returncode != 0:
        raise ChannelUnavailable(
            f"openssl could not make a TLS certificate: {result.stderr.strip()[-500:]}"
        )
    os.chmod(tmp_key, 0o600)
    os.replace(tmp_key, key)
    os.replace(tmp_cert, cert)
    return cert, key
