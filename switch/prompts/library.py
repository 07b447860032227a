"""Prompts by name and language, and announcements made of several prompts.

A prompt ``name`` in language ``lang`` is the first file that exists of::

    <prompts dir>/<lang>/<name>.wav            the operator's recording
    <prompts dir>/<default language>/<name>.wav
    <prompts dir>/en/<name>.wav
    <shipped>/<lang>/<name>.wav                generated at install (python -m switch.prompts)
    <shipped>/<default language>/<name>.wav
    <shipped>/en/<name>.wav

``<prompts dir>`` is ``[routing].prompts``; ``<shipped>`` is ``switch/prompts/sounds``.
An announcement (:meth:`Prompts.parts`) is its parts' files joined into one WAV with a
short pause between them, cached on disk under a key of the language, the part names and
the files' sizes and times (a recording replaced by the operator makes a new one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import structlog

from switch.prompts.wav import BadWav, read_pcm, silence, write_pcm

log = structlog.get_logger("prompts")

SHIPPED = Path(__file__).resolve().parent / "sounds"
GAP = 0.12  # seconds of silence between the parts of an announcement


class Prompts:
    def __init__(
        self,
        directory: str | Path,
        default_language: str = "en",
        *,
        cache: str | Path,
        shipped: Path = SHIPPED,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.default_language = default_language
        self.shipped = shipped
        self.cache = Path(cache)
        self._made: dict[str, Path] = {}

    def candidates(self, name: str, language: str | None) -> list[Path]:
        """Where ``name`` is looked for, in order."""
        langs: list[str] = []
        for lang in (language or self.default_language, self.default_language, "en"):
            if lang not in langs:
                langs.append(lang)
        return [
            root / lang / f"{name}.wav" for root in (self.directory, self.shipped) for lang in langs
        ]

    def find(self, name: str, language: str | None) -> Path | None:
        for path in self.candidates(name, language):
            if path.is_file():
                return path
        return None

    def parts(self, names: Sequence[str], language: str | None) -> Path | None:
        """One WAV saying ``names`` in order (a missing part is left out, logged);
        None when none of them exists."""
        found: list[Path] = []
        for name in names:
            path = self.find(name, language)
            if path is None:
                log.warning("prompt_missing", prompt=name, language=language)
            else:
                found.append(path)
        if not found:
            return None
        key = _key(language or self.default_language, names, found)
        made = self._made.get(key)
        if made is not None and made.is_file():
            return made
        target = self.cache / f"{key}.wav"
        if not target.is_file():
            pcm = bytearray()
            for path in found:
                try:
                    part = read_pcm(path)
                except BadWav as exc:
                    log.warning("prompt_unreadable", path=str(path), error=str(exc))
                    continue
                if pcm:
                    pcm += silence(GAP)
                pcm += part
            if not pcm:
                return None
            self.cache.mkdir(parents=True, exist_ok=True)
            write_pcm(target, bytes(pcm))
        self._made[key] = target
        return target


def _key(language: str, names: Sequence[str], files: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    digest.update(language.encode())
    for name in names:
        digest.update(b"\0" + name.encode())
    for path in files:
        st = path.stat()
        digest.update(f"\0{path}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return f"{language}-{digest.hexdigest()[:24]}"
