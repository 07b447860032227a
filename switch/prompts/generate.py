"""The prompts shipped with the switch, spoken by ``espeak-ng`` at install time.

``python -m switch.prompts generate [--to DIR]`` (scripts/install-deps runs it; the
switch never runs a speech synthesiser itself) writes ``DIR/en/<name>.wav`` for every
name of :data:`ENGLISH`, 8 kHz 16-bit mono like the workers play. Existing files are
kept unless ``--force``: an operator's recordings go in ``[routing].prompts`` anyway,
which is searched first (:mod:`switch.prompts.library`).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from base.errors import ConfigError
from switch.prompts.wav import read_pcm, write_pcm

_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]

# name -> what it says. The treatments (queue_<reason>), the announcement's parts, the
# numbers, and the menus and questions of the example configuration.
ENGLISH: dict[str, str] = {
    "welcome": ("Welcome. For sales, press 1. For support, press 2. To speak to someone, press 0."),
    "support_menu": "For billing, press 1. For a technical fault, press 2. To go back, press 9.",
    "account_number": "Please enter your account number, then press the hash key.",
    "reason": "For billing, press 1. For a fault, press 2.",
    "queue_closed": "We are closed now. Please call again during our opening hours. Goodbye.",
    "queue_no_agents": "Sorry, nobody can take your call right now. Please call again later. "
    "Goodbye.",
    "queue_max_wait": "Sorry, all our agents are still busy. Please call again later. Goodbye.",
    "goodbye": "Thank you for calling. Goodbye.",
    "queue_position": "You are number",
    "queue_wait": "Your expected wait is about",
    "queue_wait_short": "Your expected wait is less than a minute.",
    "minute": "minute.",
    "minutes": "minutes.",
    **{f"num_{n}": word for n, word in enumerate(_WORDS)},
    **{f"num_{10 * (i + 2)}": word for i, word in enumerate(_TENS)},
}


def espeak() -> str:
    found = shutil.which("espeak-ng")
    if found is None:
        raise ConfigError([("espeak-ng", "not installed (apt-get install espeak-ng)")])
    return found


def generate(
    target: Path,
    texts: Mapping[str, str] = ENGLISH,
    *,
    language: str = "en",
    voice: str = "en-us",
    force: bool = False,
) -> list[Path]:
    """Speak every text into ``target/<language>/<name>.wav``; the files written."""
    program = espeak()
    out_dir = target / language
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="prompts-") as tmp:
        for name, text in texts.items():
            path = out_dir / f"{name}.wav"
            if path.is_file() and not force:
                continue
            raw = Path(tmp) / f"{name}.wav"
            subprocess.run(
                [program, "-v", voice, "-s", "150", "-w", str(raw), text],
                check=True,
                capture_output=True,
                timeout=60,
            )
            write_pcm(path, read_pcm(raw))
            written.append(path)
    return written
