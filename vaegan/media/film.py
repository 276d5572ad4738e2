"""Frames out: uint8 frames -> an H.264 film any player plays, with the source film's sound.

    with FilmWriter("out.mp4", fps=25, width=96, height=64, audio_from="film.mkv") as film:
        film.write(frames)                 # uint8 N x H x W x 3 RGB, as many calls as needed
    side_by_side(original, reconstruction) # N x H x 2W x 3: original | reconstruction

Video: libx264, yuv420p (the one pixel format every player decodes), CRF 18 (visually lossless at
these sizes), the source's frame rate as an exact fraction (30000/1001 stays 30000/1001), tagged
BT.709 limited range, and the index at the front of the file (+faststart) so it streams. yuv420p
stores colour at half resolution, so both sides must be even: an odd width or height is PADDED by one
pixel, a copy of the last column or row (nothing is cut; the film is at most one pixel larger).

Audio: the first audio stream of `audio_from`, cut to the film: it starts at `audio_start` seconds of
the source's video time (the store's --start) and ends with the last frame written. Codecs the output
container accepts are copied packet by packet (no quality loss); any other (PCM, Vorbis, DTS, ...) is
re-encoded to AAC. Audio packets are written as the video advances, so the file is interleaved and
nothing is held in memory. A source without audio gives a silent film (.audio says which happened).

The film is written to a temporary file beside `path` and renamed over it only when it is complete
(close): a crash, a full disk or a `with` block left by an exception removes the half-written file and
leaves whatever film was at `path` before (the last run's reconstruction) intact.
"""
import os
import tempfile
from fractions import Fraction

import av
import numpy as np

from vaegan.errors import UserError
from vaegan.media.paths import check_output, usual_permissions

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
# audio codecs each container takes as they are; anything else is re-encoded to AAC
COPYABLE_AUDIO = {
    "mp4": {"aac", "mp3", "ac3", "eac3", "alac"},
    "mov": {"aac", "mp3", "ac3", "eac3", "alac"},
    "matroska": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "vorbis", "flac", "dts", "truehd",
                 "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le"},
}
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)


def side_by_side(a, b):
    """Original | reconstruction: two N x H x W x 3 batches -> one N x H x 2W x 3."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"side_by_side needs equal shapes, got {a.shape} and {b.shape}")
    return np.concatenate([a, b], axis=-2)


def as_fraction(fps):
    """25, 29.97, '30000/1001' or a Fraction -> an exact Fraction (29.97 -> 2997/100)."""
    try:
        rate = Fraction(fps) if not isinstance(fps, float) else Fraction(fps).limit_denominator(1001)
    except (ValueError, ZeroDivisionError):
        raise UserError(f"frame rate {fps!r} is not a number") from None
    if rate <= 0:
        raise UserError(f"frame rate {fps!r} must be positive")
    return rate


def check_output_path(path):
    """The film's folder must exist and be writable (paths.check_output); the extension picks the container."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in CONTAINERS:
        raise UserError(f"{os.path.abspath(path)}: films are written as {', '.join(sorted(CONTAINERS))}, "
                        f"not {ext or 'no extension'}")
    return check_output(path), CONTAINERS[ext]


class FilmWriter:
    """Write uint8 RGB frames to an H.264 film, with the source's audio carried over."""

    def __init__(self, path, fps, width, height, audio_from=None, audio_start=0.0, crf=18):
        self.path, self.format = check_output_path(path)
        self.fps = as_fraction(fps)
        self.width, self.height = int(width), int(height)
        if self.width < 1 or self.height < 1:
            raise ValueError(f"width and height must be positive, got {width}x{height}")
        # yuv420p halves the colour planes: pad an odd side by one copied pixel
        self.pad_w, self.pad_h = self.width % 2, self.height % 2
        self.count = 0
        self.audio = None        # None (silent), "copy" or "aac"
        self._audio_source = None
        options = {"movflags": "+faststart"} if self.format in ("mp4", "mov") else {}
        self._out = None
        try:   # the film grows in a hidden file beside its final name; close() renames it into place
            fd, self._partial = tempfile.mkstemp(prefix="." + os.path.basename(self.path) + ".",
                                                 suffix=".partial", dir=os.path.dirname(self.path))
            os.close(fd)
            self._out = av.open(self._partial, "w", format=self.format, options=options)
        except (av.FFmpegError, OSError) as e:
            self._abandon()
            raise UserError(f"{self.path}: cannot write ({e})") from None
        try:
            video = self._out.add_stream("libx264", rate=self.fps)
            video.width, video.height = self.width + self.pad_w, self.height + self.pad_h
            video.pix_fmt = "yuv420p"
            video.time_base = 1 / self.fps
            video.options = {"crf": str(crf), "preset": "medium"}
            cc = video.codec_context
            cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1  # BT.709, limited
            self._video = video
            if audio_from is not None:
                self._open_audio(os.fspath(audio_from), float(audio_start or 0.0))
        except BaseException:
            self._abandon()
            raise

    # --- audio --------------------------------------------------------------------------------

    def _open_audio(self, source_path, audio_start):
        from vaegan.media.decode import open_film
        source = open_film(source_path)
        if not source.streams.audio:
            source.close()
            return
        self._audio_source = source
        a = source.streams.audio[0]
        # the store's times count from the first video timestamp; audio is cut on the same clock
        videos = [s for s in source.streams.video if s.start_time is not None]
        video_origin = float(videos[0].start_time * videos[0].time_base) if videos else 0.0
        audio_origin = float((a.start_time or 0) * a.time_base)
        self._audio_offset = video_origin + audio_start - audio_origin   # seconds into the audio stream
        self._audio_in = a
        if a.codec_context.name in COPYABLE_AUDIO[self.format]:
            self.audio = "copy"
            self._audio_out = self._out.add_stream_from_template(a)
        else:
            self.audio = "aac"
            rate = a.codec_context.sample_rate
            rate = rate if rate in AAC_RATES else 48000
            # AAC in mp4 wants a standard layout: mono and stereo stay, 5.1 stays, the rest go stereo
            layout = {1: "mono", 2: "stereo", 6: "5.1"}.get(a.codec_context.channels, "stereo")
            self._audio_out = self._out.add_stream("aac", rate=rate, layout=layout)
            self._audio_out.bit_rate = 64000 * min(2, a.codec_context.channels or 2)
            self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate, frame_size=1024)
            self._aac_pts = None
        self._audio_packets = source.demux(a)
        self._pending = None     # a packet read ahead of the video

    def _pump_audio(self, until):
        """Write the source's audio up to `until` seconds of the film."""
        if self._audio_source is None:
            return
        a = self._audio_in
        while True:
            packet = self._pending or next(self._audio_packets, None)
            self._pending = None
            if packet is None:
                return
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None or not packet.size:
                continue
            t = float((stamp - (a.start_time or 0)) * a.time_base) - self._audio_offset   # film time
            if t >= until:
                self._pending = packet
                return
            duration = float((packet.duration or 0) * a.time_base)
            if t + duration <= 0:
                continue        # before the film's start
            if self.audio == "copy":
                shift = int(round(self._audio_offset / a.time_base)) + (a.start_time or 0)
                packet.pts = stamp - shift
                packet.dts = (packet.dts - shift) if packet.dts is not None else packet.pts
                packet.stream = self._audio_out
                self._out.mux(packet)
            else:
                try:
                    decoded = packet.decode()
                except av.FFmpegError:
                    continue    # a damaged audio packet: a moment of silence rather than no film
                for frame in decoded:
                    self._encode_audio(frame, t)

    def _encode_audio(self, frame, t):
        if self._aac_pts is None:        # the first sample's place on the film's clock
            self._aac_pts = max(0, int(round(t * self._audio_out.codec_context.sample_rate)))
        frame.pts = None
        for chunk in self._resampler.resample(frame):
            self._mux_aac(chunk)

    def _mux_aac(self, chunk):
        chunk.pts = self._aac_pts
        chunk.time_base = Fraction(1, self._audio_out.codec_context.sample_rate)
        self._aac_pts += chunk.samples
        for packet in self._audio_out.encode(chunk):
            self._out.mux(packet)

    def _finish_audio(self):
        if self._audio_source is None:
            return
        self._pump_audio(self.count / self.fps)   # up to the end of the last frame
        if self.audio == "aac":
            if self._aac_pts is not None:
                for chunk in self._resampler.resample(None):
                    self._mux_aac(chunk)
            for packet in self._audio_out.encode(None):
                self._out.mux(packet)
        self._audio_source.close()
        self._audio_source = None

    # --- video --------------------------------------------------------------------------------

    def write(self, frames):
        """Append uint8 RGB frames: N x H x W x 3, or one H x W x 3."""
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.dtype != np.uint8 or frames.shape[1:] != (self.height, self.width, 3):
            raise ValueError(f"frames must be uint8 N x {self.height} x {self.width} x 3, "
                             f"got {frames.dtype} {frames.shape}")
        if self.pad_w or self.pad_h:
            frames = np.pad(frames, ((0, 0), (0, self.pad_h), (0, self.pad_w), (0, 0)), mode="edge")
        try:
            for picture in frames:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
                frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range=1)
                frame.pts = self.count
                for packet in self._video.encode(frame):
                    self._out.mux(packet)
                self.count += 1
            self._pump_audio(self.count / self.fps)
        except BaseException as e:
            self._abandon()
            if isinstance(e, OSError) and not isinstance(e, av.FFmpegError):
                raise UserError(f"{self.path}: cannot write the film ({e.strerror or e})") from None
            raise

    def close(self):
        """Flush the encoder, finish the audio, close the file, and put it in place (atomically: the
        rename replaces any earlier film at `path` in one step, after the data is on disk)."""
        if self._out is None:
            return
        try:
            for packet in self._video.encode(None):
                self._out.mux(packet)
            self._finish_audio()
            self._out.close()
            self._out = None
            fd = os.open(self._partial, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            usual_permissions(self._partial)             # mkstemp made it private; a film is not
            os.replace(self._partial, self.path)
            self._partial = None
        except BaseException as e:
            self._abandon()
            if isinstance(e, OSError) and not isinstance(e, av.FFmpegError):
                raise UserError(f"{self.path}: cannot write the film ({e.strerror or e})") from None
            raise

    def _abandon(self):
        """Close whatever is open and remove the half-written film (an earlier film at `path` stays)."""
        for thing in (self._audio_source, getattr(self, "_out", None)):
            try:
                if thing is not None:
                    thing.close()
            except Exception:
                pass
        self._audio_source, self._out = None, None
        partial, self._partial = getattr(self, "_partial", None), None
        try:
            if partial is not None:
                os.remove(partial)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.close()
        else:
            self._abandon()
        return False
