"""Audio alerts: one short synthesized tone per kind, mutable, the audio device optional.

Sound is only for what needs a person (design: help request, deadman stop, robot offline,
automatic rollback). Tones differ in pitch and rhythm so they can be told apart without looking.
The same event is always also shown in the attention queue and status bar; sound is a second
channel, never the only one. Which alerts sound and how often (rate limits, mute) is decided by the presentation model
(``fleet_view.AlertRules``); this module only turns an allowed alert into sound. Nothing here
knows Qt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

log = logging.getLogger("lwd.alerts")

SAMPLE_RATE = 22050

# kind -> (frequencies of successive beeps in Hz, beep length s, gap s)
TONES: dict[str, tuple[tuple[float, ...], float, float]] = {
    "help": ((880.0, 1175.0), 0.09, 0.04),      # rising pair: a question
    "deadman": ((660.0, 660.0, 660.0), 0.07, 0.05),  # three equal: stopped
    "offline": ((523.0, 392.0), 0.12, 0.05),    # falling pair: something went away
    "rollback": ((440.0, 554.0, 659.0), 0.08, 0.03),  # arpeggio: a version changed
}
SOUND_CODES = {"help": "help", "deadman": "deadman", "stale": "offline", "offline": "offline",
               "operator_lost": "deadman", "rollback": "rollback", "auto_rollback": "rollback"}
"""Alert code (``Alert.code``) -> tone kind; other codes make no sound."""


def tone(kind: str, rate: int = SAMPLE_RATE, volume: float = 0.3) -> np.ndarray:
    """float32 mono samples of ``kind``'s tone; each beep has 5 ms ramps (no clicks)."""
    freqs, beep, gap = TONES[kind]
    n, g = int(beep * rate), int(gap * rate)
    t = np.arange(n, dtype=np.float64) / rate
    ramp = min(n // 2, int(0.005 * rate))
    env = np.ones(n)
    env[:ramp] = np.linspace(0.0, 1.0, ramp)
    env[n - ramp:] = np.linspace(1.0, 0.0, ramp)
    parts = []
    for f in freqs:
        parts.append(np.sin(2 * np.pi * f * t) * env * volume)
        parts.append(np.zeros(g))
    return np.concatenate(parts).astype(np.float32)


class AlertSounder:
    """Plays alert tones through sounddevice. With no audio device (or no PortAudio) it keeps
    working silently and reports the problem once through ``on_notice``."""

    def __init__(self, on_notice: Callable[[str], None] | None = None):
        self.on_notice = on_notice
        self.muted = False
        self.available: bool | None = None  # unknown until the first sound
        self.played: list[str] = []
        """Kinds actually handed to the audio device, in order (for the status bar and tests)."""
        self.wanted: list[str] = []
        """Kinds that passed mute and rate limit (played or not, e.g. without a device)."""
        self._sd = None

    def _device(self):
        if self.available is None:
            try:
                import sounddevice as sd

                sd.query_devices(kind="output")
                self._sd, self.available = sd, True
            except Exception as e:  # OSError (no PortAudio) or sd.PortAudioError (no device)
                self.available = False
                msg = f"no audio device: alerts are shown, not sounded ({str(e).splitlines()[0][:80]})"
                log.warning(msg)
                if self.on_notice:
                    self.on_notice(msg)
        return self._sd

    def alert(self, code: str, robot_id: str = "") -> bool:
        """Sound the tone for an alert code (already rate limited by the caller) if it has one and
        sound is not muted. True when a sound was wanted (even if no device could play it)."""
        kind = SOUND_CODES.get(code)
        if kind is None or self.muted:
            return False
        self.wanted.append(kind)
        sd = self._device()
        if sd is not None:
            try:
                sd.play(tone(kind), SAMPLE_RATE, blocking=False)
                self.played.append(kind)
            except Exception as e:  # the device went away mid-session: say so once
                self.available = False
                self._sd = None
                if self.on_notice:
                    self.on_notice(f"audio device lost: {e}")
        return True

    def toggle_mute(self) -> bool:
        self.muted = not self.muted
        return self.muted
