"""Raw PCM framing: the 8 kHz 16-bit mono frames a modem's voice port carries.

Shared by the GSM driver (the modem's side) and the SIP media workers (the bridge's
side); pure values and a sans-IO framer, no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PcmFormat:
    rate: int = 8000
    sample_width: int = 2  # bytes, signed little-endian
    channels: int = 1
    frame_ms: int = 20

    @property
    def frame_bytes(self) -> int:
        return self.rate * self.frame_ms // 1000 * self.sample_width * self.channels


SERIAL_PCM = PcmFormat()  # 320-byte frames every 20 ms


class PcmFramer:
    """Sans-IO: bytes in any chunking → whole frames; a bounded backlog (drop oldest)."""

    def __init__(self, fmt: PcmFormat = SERIAL_PCM, max_frames: int = 10) -> None:
        self.format = fmt
        self._partial = bytearray()
        self._frames: deque[bytes] = deque()
        self.max_frames = max_frames
        self.dropped = 0

    def feed(self, data: bytes) -> int:
        """Add received bytes; returns how many whole frames became available."""
        self._partial += data
        size = self.format.frame_bytes
        made = 0
        while len(self._partial) >= size:
            self._frames.append(bytes(self._partial[:size]))
            del self._partial[:size]
            made += 1
            if len(self._frames) > self.max_frames:
                self._frames.popleft()
                self.dropped += 1
        return made

    def next_frame(self) -> bytes | None:
        return self._frames.popleft() if self._frames else None

    def __len__(self) -> int:
        return len(self._frames)
