"""Voice prompts: files by name and language, announcements made of parts, and the
English prompts generated at install (``python -m switch.prompts generate``).

- :mod:`switch.prompts.library` — :class:`Prompts`: where a prompt's file is, and parts
  joined into one WAV (cached);
- :mod:`switch.prompts.wav` — reading any PCM WAV as the workers' 8 kHz 16-bit mono;
- :mod:`switch.prompts.generate` — the shipped prompts, spoken by espeak-ng.
"""

from switch.prompts.library import SHIPPED, Prompts

__all__ = ["SHIPPED", "Prompts"]
