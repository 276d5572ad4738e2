"""Small films for the frame tests, written with PyAV, with pictures the tests can predict.

pattern(i) is smooth (ramps of at most 3 levels per pixel), so chroma subsampling and H.264 keep it
close, and its blue channel is 10 * i, so a decoded frame says which frame it is. No tests here.
"""
from fractions import Fraction

import av
import numpy as np


def pattern(i, width=64, height=48):
    """Frame i: red ramps across, green ramps down, both drifting with i; blue = 10 * i (i < 25)."""
    yy, xx = np.mgrid[0:height, 0:width]
    red = (40 + 2 * xx + 3 * i) % 256
    green = (30 + 3 * yy + 2 * i) % 256
    blue = np.full_like(xx, (10 * i) % 256)
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)


def frame_index(picture):
    """Which pattern() frame a decoded picture is: its mean blue, in tens."""
    return int(round(float(picture[..., 2].mean()) / 10))


def write_film(path, n=12, size=(64, 48), fps=10, codec="libx264", pix_fmt="yuv420p", options=None,
               container_options=None, audio=None, rotation=None, pictures=None, times_ms=None):
    """Write pictures (default pattern(0..n-1)) as a film. audio: an audio codec name ("aac",
    "pcm_s16le", ...) for a stereo 44.1 kHz track as long as the video whose loudness ramps up with
    time (amplitude 0.05 + 0.25 * t / duration, so a cut can be located). times_ms: variable-rate
    timestamps (the stream's time base is then 1 ms)."""
    width, height = size
    pictures = pictures if pictures is not None else [pattern(i, width, height) for i in range(n)]
    out = av.open(str(path), "w", options=container_options or {})
    if times_ms is None:
        video = out.add_stream(codec, rate=fps)
    else:
        video = out.add_stream(codec)
        video.time_base = video.codec_context.time_base = Fraction(1, 1000)
    video.width, video.height, video.pix_fmt = width, height, pix_fmt
    video.options = dict(options or {})
    if rotation is not None:
        video.set_display_rotation(rotation)
    sound = out.add_stream(audio, rate=44100, layout="stereo") if audio else None
    for i, picture in enumerate(pictures):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
        if times_ms is not None:
            frame.pts, frame.time_base = times_ms[i], Fraction(1, 1000)
        for packet in video.encode(frame):
            out.mux(packet)
    for packet in video.encode():
        out.mux(packet)
    if sound is not None:
        _write_tone(out, sound, len(pictures) / fps)
    out.close()
    return path


def loudness(t, duration):
    """The tone's amplitude at t seconds (write_film's audio)."""
    return 0.05 + 0.25 * t / duration


def _write_tone(out, sound, duration, rate=44100, chunk=1024):
    total = int(round(duration * rate))
    fmt = sound.codec_context.codec.audio_formats[0].name if sound.codec_context.codec.audio_formats else "fltp"
    for first in range(0, total, chunk):
        t = (first + np.arange(min(chunk, total - first))) / rate
        wave = loudness(t, duration) * np.sin(2 * np.pi * 440 * t)
        planar = np.stack([wave, wave]).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = rate, first
        if fmt != "fltp":
            frame = av.AudioResampler(format=fmt, layout="stereo", rate=rate).resample(frame)[0]
            frame.pts = first
        for packet in sound.encode(frame):
            out.mux(packet)
    for packet in sound.encode():
        out.mux(packet)


def write_audio_only(path, seconds=1.0):
    """An m4a with an AAC tone and no video."""
    out = av.open(str(path), "w", format="mp4")
    sound = out.add_stream("aac", rate=44100, layout="stereo")
    _write_tone(out, sound, seconds)
    out.close()
    return path


def decode_all(path):
    """Every frame of a film at its own size as uint8 RGB, straight from PyAV (no code under test)."""
    with av.open(str(path)) as film:
        return np.stack([f.to_ndarray(format="rgb24") for f in film.decode(video=0)])


def audio_of(path):
    """(samples as float32 channels x n, sample rate, codec name) of a film's first audio stream."""
    with av.open(str(path)) as film:
        stream = film.streams.audio[0]
        name, rate = stream.codec_context.name, stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
        chunks = [r.to_ndarray() for f in film.decode(stream) for r in resampler.resample(f)]
        return np.concatenate(chunks, axis=1), rate, name
