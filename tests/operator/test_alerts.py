import numpy as np

from lwd_operator.alerts import TONES, AlertSounder, tone


def test_tones_differ_by_kind_and_stay_in_range():
    sounds = {k: tone(k) for k in TONES}
    for k, s in sounds.items():
        assert s.dtype == np.float32 and 0.1 < len(s) / 22050 < 0.6, k
        assert np.abs(s).max() <= 0.3 + 1e-6 and abs(s[0]) < 1e-3  # ramped in: no click
    spectra = {k: np.argmax(np.abs(np.fft.rfft(s))) for k, s in sounds.items()}
    assert len({tuple(sounds[k].shape) + (spectra[k],) for k in sounds}) == len(sounds)


def test_sounder_mute_codes_and_no_device_said_once(monkeypatch):
    import sounddevice as sd

    def no_device(*a, **k):
        raise sd.PortAudioError("Error querying device -1")

    monkeypatch.setattr(sd, "query_devices", no_device)
    notices = []
    s = AlertSounder(on_notice=notices.append)
    assert not s.alert("policy_loaded", "r1")  # no tone for that code
    assert s.alert("help", "r1") and s.alert("stale", "r2") and s.alert("deadman", "r3")
    assert s.wanted == ["help", "offline", "deadman"] and s.played == []
    assert len(notices) == 1 and notices[0].startswith("no audio device")
    s.toggle_mute()
    assert not s.alert("help", "r1")
