"""What a re-imagined film must be, checked from the outside: its frames, their order, their rate, its sound.

    expected_reconstruction(model, source)  the model's reconstruction (z = mu, running statistics) of
                                            each source frame, computed here, not by vaegan/reconstruct.py
    check_frames(got, expected, what)       decoded frame i is expected frame i, within the codec's error
    check_rate(film, fps)                   the stream's rate and every frame's timestamp are i / fps exactly
    check_audio(film, source, n, fps)       the source's sound, from its start, as long as the film

The codec's error is measured, not guessed: the expected frames are encoded a second time by an
independent writer (tests/films.write_film: PyAV's libx264, yuv420p, CRF 18 like vaegan/media/film.py) and
decoded, giving each frame's PSNR under H.264 + 4:2:0 on exactly this content. The film under test may
be CODEC_SLACK_DB below that and never below MIN_PSNR_DB (measured: vaegan/media/film.py's BT.709 conversion
costs 0.3-0.6 dB against the reference's default matrix on a plain film; a half of a side-by-side film,
encoded with its other half, up to 1.9 dB). A film of the source's frames
instead of the reconstruction is 7-16 dB from it. Order is checked where frames can be told apart
through the codec: tests.films.pattern frames (frame_index), as the left half of a side-by-side film.
No test here: helpers for tests/test_film_content.py and tests/test_train_run.py.
"""
import os
import tempfile
from fractions import Fraction

import av
import numpy as np

from tests.films import audio_of, decode_all, write_film
from vaegan.media.decode import iter_frames

CODEC_SLACK_DB = 3.0
MIN_PSNR_DB = 20.0


def psnr(a, b):
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-12)))


def expected_reconstruction(model, source, fit="crop"):
    """uint8 N x H x W x 3: each source frame (decoded and fitted as the model's input) through the
    model in eval mode, one frame at a time, through the run's output filter (vaegan/denoise.py, checked
    against its definition by tests/test_denoise.py), converted to uint8 by rounding (x + 1) * 127.5."""
    from vaegan.denoise import bilateral

    K, cfg = model.K, model.cfg
    frames = np.stack([f for f, _ in iter_frames(source, size=(cfg.width, cfg.height), fit=fit)])
    out = []
    for frame in frames:
        x = K.asarray(frame.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(127.5) - np.float32(1))
        y = K.to_numpy(bilateral(model.reconstruct(x, mode="eval"), model.denoise, K.xp))[0].transpose(1, 2, 0)
        out.append(np.clip(np.rint((y.astype(np.float64) + 1) * 127.5), 0, 255).astype(np.uint8))
    return frames, np.stack(out)


def reference_decode(expected):
    """The expected frames after an independent libx264 / yuv420p / CRF 18 round trip."""
    with tempfile.TemporaryDirectory() as tmp:
        h, w = expected.shape[1:3]
        path = write_film(os.path.join(tmp, "reference.mp4"), pictures=list(expected), size=(w, h), fps=25,
                          options={"crf": "18"})
        return decode_all(path)


def check_frames(got, expected, what):
    """Decoded frames `got` are the `expected` frames, one for one, each within the codec's error on
    that frame (its PSNR after the reference round trip, less CODEC_SLACK_DB, and never below
    MIN_PSNR_DB). Returns the PSNRs."""
    assert got.shape == expected.shape, f"{what}: {got.shape} frames, expected {expected.shape}"
    reference = reference_decode(expected)
    floor = np.maximum([psnr(a, b) - CODEC_SLACK_DB for a, b in zip(reference, expected)], MIN_PSNR_DB)
    ours = np.array([psnr(a, b) for a, b in zip(got, expected)])
    bad = [(i, round(p, 1), round(f, 1)) for i, (p, f) in enumerate(zip(ours, floor)) if p < f]
    assert not bad, f"{what}: frames (index, PSNR dB, codec floor dB) that are not the expected ones: {bad}"
    return ours


def check_rate(film, fps):
    """The video stream's average rate is `fps` exactly, and frame i is shown at i / fps exactly."""
    fps = Fraction(fps)
    with av.open(str(film)) as f:
        v = f.streams.video[0]
        assert Fraction(v.average_rate) == fps, f"{film}: {v.average_rate} frames/s, the source has {fps}"
        times = sorted(Fraction(frame.pts) * v.time_base for frame in f.decode(v))
    assert [t - times[0] for t in times] == [Fraction(i) / fps for i in range(len(times))], f"{film}: frame times {times}"
    return times


def envelope(samples, rate, t, width=0.05):
    """The peak amplitude of channel 0 over [t, t + width) seconds."""
    a, b = int(t * rate), int((t + width) * rate)
    return float(np.abs(samples[0, a:b]).max())


def check_audio(film, source, n_frames, fps):
    """The film carries the source's sound from the source's start, as long as the film (to one AAC
    frame, 1024 samples), starting with the video (to one AAC frame): its loudness at the start, the
    middle and the end is the source's at the same moments."""
    duration = n_frames / Fraction(fps)
    samples, rate, _ = audio_of(film)
    source_samples, source_rate, _ = audio_of(source)
    assert rate == source_rate
    aac_frame = 1024 / rate
    seconds = samples.shape[1] / rate
    assert abs(seconds - float(duration)) <= 2 * aac_frame, f"{film}: {seconds:.3f} s of sound for {float(duration):.3f} s of film"
    with av.open(str(film)) as f:
        a, v = f.streams.audio[0], f.streams.video[0]
        start = float(a.start_time * a.time_base) - float(v.start_time * v.time_base)
    assert abs(start) <= aac_frame, f"{film}: the sound starts {start:.3f} s after the picture"
    for t in (0.02, float(duration) / 2, float(duration) - 0.1):
        ours, theirs = envelope(samples, rate, t), envelope(source_samples, rate, t)
        assert abs(ours - theirs) < 0.03, f"{film}: loudness {ours:.3f} at {t:.2f} s, the source's is {theirs:.3f}"
