"""Frames in: look inside a film, decode every frame with PyAV, and fit each one to the model's size.

    probe(path) -> dict, format_probe(info) -> str      what is in a file, without decoding it all
    iter_frames(path, size=(W, H), fit="crop", ...)     (uint8 H x W x 3 RGB frame, seconds) pairs
    fit_frame(frame_or_array, size, fit, rotation)       one frame -> the model's W x H

How a frame reaches the model's size, in one pass of FFmpeg's scaler (swscale):
  1. the picture as it is meant to be seen: non-square pixels (a DVD's 720x480 shown at 16:9) are
     widened by the sample aspect ratio, and a phone's rotation tag swaps width and height;
  2. fit to the model's aspect: "crop" scales until the picture covers W x H and cuts the centre,
     "pad" scales until it fits inside and letterboxes with black, "stretch" ignores the aspect;
  3. the scaler converts to RGB (greyscale, 10-bit, 4:4:4, any pix_fmt) and resizes in one step,
     with area averaging when shrinking (no aliasing) and bicubic when enlarging, straight to the
     scaled size of step 2; numpy then cuts the centre or pastes into the black canvas, and turns
     the picture by the rotation tag (np.rot90, counter-clockwise, as FFmpeg's display matrix reads).

Times are in seconds from the video stream's first timestamp, taken from each frame's own pts, so a
variable-frame-rate film keeps its real timing; frames come in presentation order. --start/--end
select the half-open range [start, end).

A damaged file is decoded as far as it can be: packets the decoder rejects and frames it flags as
corrupt are dropped and counted, and where the container's index promises more frames than arrive
(a cut mp4), the shortfall is counted too; see DecodeStats. Only a file from which no frame at all
could be decoded is an error.
"""
import os
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vaegan.errors import UserError

FITS = ("crop", "pad", "stretch")
DECODE_THREADS = 0    # FFmpeg's decoding threads: 0 lets it choose (the cores + 1); 1 decodes on this thread alone


# --- arguments --------------------------------------------------------------------------------

def parse_size(text):
    """'96x64' -> (96, 64): width then height, as on the command line."""
    parts = str(text).lower().replace(" ", "").split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise UserError(f"size {text!r} is not WIDTHxHEIGHT (e.g. 96x64)") from None
    if width < 1 or height < 1:
        raise UserError(f"size {text!r} must be positive")
    return width, height


def _check_settings(size, fit, every, start, end, max_frames):
    width, height = size
    if int(width) < 1 or int(height) < 1:
        raise UserError(f"size {width}x{height} must be positive")
    if fit not in FITS:
        raise UserError(f"fit {fit!r} is not one of {', '.join(FITS)}")
    if int(every) < 1:
        raise UserError(f"--every {every} must be 1 or more")
    if max_frames is not None and int(max_frames) < 1:
        raise UserError(f"--max-frames {max_frames} must be 1 or more")
    if start is not None and start < 0:
        raise UserError(f"--start {start} must not be negative")
    if start is not None and end is not None and end <= start:
        raise UserError(f"--end {end} must come after --start {start}")


# --- opening a film ---------------------------------------------------------------------------

def open_film(path):
    """Open a media file for reading; anything wrong becomes a one-line UserError naming the file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError(f"{path}: no such file")
    if os.path.isdir(path):
        raise UserError(f"{path}: is a directory, not a film")
    if not os.access(path, os.R_OK):
        raise UserError(f"{path}: not readable (permission denied)")
    if os.path.getsize(path) == 0:
        raise UserError(f"{path}: empty file")
    # FFmpeg's logging is off by default; switch it on for the open alone so the error can say why
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture():      # keep FFmpeg's lines off the terminal; the exception carries the last
            return av.open(path, "r")
    except av.FFmpegError as e:
        reason = _reason(e)
        if "moov atom not found" in reason:
            reason += ": an mp4 cut short before its index was written"
        raise UserError(f"{path}: not a media file FFmpeg can read ({reason})") from None
    finally:
        av.logging.set_level(previous)


def _reason(error):
    """FFmpeg's own words for an error: its last log line when there is one ('moov atom not found')."""
    text = str(error)
    if "last error log:" in text:
        text = text.split("last error log:", 1)[1].strip()
        if text.startswith("[") and "]" in text:
            text = text.split("]", 1)[1].strip()
    else:
        text = getattr(error, "strerror", None) or text
    return text.strip().rstrip(".")


def _is_picture(stream):
    """A video stream that is a picture in fact: an mp3's cover art, a still image."""
    disposition = int(stream.disposition or 0)
    return bool(disposition & (int(av.stream.Disposition.attached_pic) | int(av.stream.Disposition.still_image)))


def video_stream(container, path):
    """The film's first real video stream (cover art does not count), or a UserError saying what there is."""
    for stream in container.streams.video:
        if not _is_picture(stream):
            return stream
    kinds = sorted({s.type for s in container.streams} - {"video"})
    if container.streams.video:
        kinds.append("cover art")
    have = " and ".join(kinds) if kinds else "no streams at all"
    raise UserError(f"{path}: no video stream (it has {have})")


def _fps(stream):
    """The stream's frame rate as a Fraction (the container's average, else FFmpeg's guess), or None."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate.numerator, rate.denominator)
    return None


def _duration(stream, container):
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1e6  # AV_TIME_BASE
    return None


def _frame_count(stream, container):
    """(count, exact): the index's frame count when the container has one, else duration x fps."""
    if stream.frames and stream.frames > 0:
        return int(stream.frames), True
    duration, fps = _duration(stream, container), _fps(stream)
    if duration and fps:
        return int(round(duration * fps)), False
    return None, False


def _sample_aspect(stream):
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    if sar and sar.numerator > 0 and sar.denominator > 0:
        return Fraction(sar.numerator, sar.denominator)
    return Fraction(1)


def _degrees(rotation):
    """A rotation in whole degrees in (-180, 180]: 180 rather than -180."""
    degrees = int(round(rotation or 0)) % 360
    return degrees - 360 if degrees > 180 else degrees


def _first_rotation(container, stream):
    """The rotation tag (degrees, counter-clockwise) read off the first frame; 0 when none or unreadable."""
    try:
        for frame in container.decode(stream):
            return _degrees(frame.rotation)
    except av.FFmpegError:
        pass
    return 0


def source_info(container, stream):
    """What the store and the film writer need to know about a video stream."""
    count, exact = _frame_count(stream, container)
    fps = _fps(stream)
    cc = stream.codec_context
    return {
        "codec": cc.name,
        "width": cc.width,
        "height": cc.height,
        "pix_fmt": cc.pix_fmt,
        "sample_aspect": str(_sample_aspect(stream)),
        "fps": float(fps) if fps else None,
        "fps_fraction": f"{fps.numerator}/{fps.denominator}" if fps else None,
        "time_base": f"{stream.time_base.numerator}/{stream.time_base.denominator}" if stream.time_base else None,
        "duration": _duration(stream, container),
        "frames": count,
        "frames_exact": exact,
    }


# --- probe ------------------------------------------------------------------------------------

def probe(path):
    """Streams, size, fps, duration and frame count of a film, from its headers and first frame."""
    path = os.fspath(path)
    container = open_film(path)
    try:
        streams = []
        for s in container.streams:
            entry = {"index": s.index, "type": s.type, "codec": s.codec_context.name if s.codec_context else None}
            if s.type == "video":
                entry.update(source_info(container, s))
                entry["cover_art"] = _is_picture(s)
            elif s.type == "audio":
                cc = s.codec_context
                entry.update(sample_rate=cc.sample_rate, channels=cc.channels,
                             layout=cc.layout.name if cc.layout else None, duration=_duration(s, container))
            streams.append(entry)
        info = {
            "path": path,
            "format": container.format.name,
            "format_long": container.format.long_name,
            "file_size": os.path.getsize(path),
            "duration": container.duration / 1e6 if container.duration is not None else None,
            "streams": streams,
            "video": None,
        }
        stream = video_stream(container, path)   # a UserError when there is none
        video = next(e for e in streams if e["index"] == stream.index)
        video["rotation"] = _first_rotation(container, stream)
        info["video"] = video["index"]
        for key in ("width", "height", "fps", "frames", "frames_exact", "rotation"):
            info[key] = video[key]
        return info
    finally:
        container.close()


def _size_text(nbytes):
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000


def format_probe(info):
    """probe()'s dict as one readable block: the headline, then a line per stream."""
    lines = [f"file      {info['path']}  ({_size_text(info['file_size'])}, {info['format_long']})"]
    duration = info.get("duration")
    lines.append(f"duration  {duration:.2f} s" if duration is not None else "duration  unknown")
    if info.get("video") is not None:
        frames = info["frames"]
        count = "unknown" if frames is None else (f"{frames}" if info["frames_exact"] else f"~{frames} (estimated)")
        fps = f"{info['fps']:.3f}".rstrip("0").rstrip(".") if info["fps"] else "unknown"
        lines.append(f"video     {info['width']}x{info['height']}, {fps} fps, {count} frames"
                     + (f", rotated {info['rotation']} deg" if info.get("rotation") else ""))
    for s in info["streams"]:
        head = f"stream {s['index']:<2d} {s['type']:<6s} {s['codec'] or '?'}"
        if s["type"] == "video":
            extra = f"{s['width']}x{s['height']} {s['pix_fmt']}"
            if s.get("sample_aspect") not in (None, "1"):
                extra += f" SAR {s['sample_aspect']}"
            if s.get("fps_fraction"):
                extra += f", {s['fps_fraction']} fps"
            if s.get("cover_art"):
                extra += " (cover art)"
        elif s["type"] == "audio":
            extra = f"{s['sample_rate']} Hz, {s['channels']} ch" + (f" ({s['layout']})" if s.get("layout") else "")
        else:
            extra = ""
        if s.get("duration") is not None:
            extra += f", {s['duration']:.2f} s"
        lines.append(f"{head}  {extra}".rstrip())
    return "\n".join(lines)


# --- geometry: the picture as seen, fitted to W x H -------------------------------------------

@dataclass(frozen=True)
class FitPlan:
    """How one source picture becomes W x H: scale (in the picture's display orientation) to
    scaled_w x scaled_h, then cut the window at (x, y) ("crop") or paste at (x, y) ("pad")."""
    width: int
    height: int
    scaled_w: int
    scaled_h: int
    x: int
    y: int
    fit: str
    quarter_turns: int   # np.rot90's k: counter-clockwise quarter turns from stored to displayed


def plan_fit(src_w, src_h, size, fit, sample_aspect=1, rotation=0):
    """Where the source picture lands in the W x H frame. rotation: degrees counter-clockwise, a
    multiple of 90 (other angles are rounded to the nearest quarter turn)."""
    width, height = int(size[0]), int(size[1])
    quarter_turns = int(round((rotation or 0) / 90.0)) % 4
    shown_w, shown_h = src_w * float(sample_aspect), float(src_h)
    if quarter_turns % 2:
        shown_w, shown_h = shown_h, shown_w
    if fit == "stretch":
        return FitPlan(width, height, width, height, 0, 0, fit, quarter_turns)
    if fit == "crop":      # cover the frame, cut the centre
        scale = max(width / shown_w, height / shown_h)
        scaled_w = max(width, int(round(shown_w * scale)))
        scaled_h = max(height, int(round(shown_h * scale)))
        return FitPlan(width, height, scaled_w, scaled_h,
                       (scaled_w - width) // 2, (scaled_h - height) // 2, fit, quarter_turns)
    if fit == "pad":       # fit inside the frame, black bars around
        scale = min(width / shown_w, height / shown_h)
        scaled_w = min(width, max(1, int(round(shown_w * scale))))
        scaled_h = min(height, max(1, int(round(shown_h * scale))))
        return FitPlan(width, height, scaled_w, scaled_h,
                       (width - scaled_w) // 2, (height - scaled_h) // 2, fit, quarter_turns)
    raise UserError(f"fit {fit!r} is not one of {', '.join(FITS)}")


def rotate_for_display(picture, quarter_turns):
    """Turn a stored H x W x C picture counter-clockwise by quarter_turns x 90 degrees, as shown."""
    return np.ascontiguousarray(np.rot90(picture, k=quarter_turns)) if quarter_turns % 4 else picture


def fit_frame(frame, size, fit="crop", rotation=None, sample_aspect=1, reformatter=None):
    """One av.VideoFrame (any pix_fmt) or uint8 H x W x 3 RGB array -> uint8 H x W x 3 RGB at size.

    rotation None reads the frame's own tag (0 for an array)."""
    if isinstance(frame, np.ndarray):
        if frame.ndim == 2:
            frame = np.repeat(frame[:, :, None], 3, axis=2)
        if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 H x W x 3, got {frame.dtype} {frame.shape}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:, :, :3]), format="rgb24")
    if rotation is None:
        rotation = frame.rotation or 0
    plan = plan_fit(frame.width, frame.height, size, fit, sample_aspect, rotation)
    # scale in the stored orientation: a quarter-turned picture is scaled to the transposed size
    out_w, out_h = (plan.scaled_h, plan.scaled_w) if plan.quarter_turns % 2 else (plan.scaled_w, plan.scaled_h)
    shrinking = out_w <= frame.width and out_h <= frame.height
    reformatter = reformatter or VideoReformatter()
    color_range = frame.color_range if frame.color_range in (1, 2) else None   # MPEG / JPEG when tagged
    scaled = reformatter.reformat(frame, out_w, out_h, format="rgb24",
                                  interpolation="AREA" if shrinking else "BICUBIC",
                                  src_color_range=color_range).to_ndarray()
    scaled = rotate_for_display(scaled, plan.quarter_turns)
    if plan.fit == "crop":
        return np.ascontiguousarray(scaled[plan.y:plan.y + plan.height, plan.x:plan.x + plan.width])
    if plan.fit == "pad":
        canvas = np.zeros((plan.height, plan.width, 3), np.uint8)
        canvas[plan.y:plan.y + plan.scaled_h, plan.x:plan.x + plan.scaled_w] = scaled
        return canvas
    return scaled


# --- decoding ---------------------------------------------------------------------------------

@dataclass
class DecodeStats:
    """What a decode run saw. lost: source frames that could not be decoded (rejected packets,
    frames flagged corrupt, and frames the container's index promised that never arrived)."""
    decoded: int = 0           # good frames out of the decoder (before --start/--every filtering)
    kept: int = 0              # frames yielded
    failed_packets: int = 0
    corrupt_frames: int = 0
    missing: int = 0           # promised by the index (or, estimated, by the stated duration) but never demuxed
    missing_estimated: bool = False
    packets: int = 0           # video packets with data that the demuxer delivered
    discarded: int = 0         # packets the container itself marks to be dropped (outside an edit list)
    rotation: int = 0
    reached_end: bool = False  # the whole stream was read (not stopped by --end or --max-frames)
    errors: list = field(default_factory=list)

    @property
    def lost(self):
        return self.failed_packets + self.corrupt_frames + self.missing

    def note(self, message):
        if len(self.errors) < 5 and message not in self.errors:
            self.errors.append(message)


class FrameIterator:
    """iter_frames()'s result: iterate it for (frame, seconds); .stats and .source describe the run."""

    def __init__(self, generator, stats, source, path):
        self._generator, self.stats, self.source, self.path = generator, stats, source, path

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._generator)

    def close(self):
        self._generator.close()

    def lost_message(self):
        """One line on what was lost, or None when nothing was (lost_frames_message)."""
        return lost_frames_message(self.path, self.stats)


def lost_frames_message(path, stats):
    """The one wording of frames lost from a film, for every command that reads one (frames, train,
    reconstruct, morph, report): `PATH: N frames lost to truncation or corruption (why)`, or None when
    none were. lost_frames_line() makes it the line printed; the frame store keeps it (meta.json's lost_message)."""
    if not stats.lost:
        return None
    approx = "about " if stats.missing_estimated else ""
    why = f" ({stats.errors[0]})" if stats.errors else ""
    return f"{path}: {approx}{stats.lost} frames lost to truncation or corruption{why}"


def lost_frames_line(message):
    """The line a user reads about lost frames, from lost_frames_message's message: `warning: ...`, or None."""
    return f"warning: {message}" if message else None


def scan_losses(path):
    """lost_frames_message for a whole film from its packets alone, without decoding a frame: for a command
    that decodes only a few frames (morph) but must still say what `frames` says. It counts what a cut
    file loses (the frames the index promises, or the stated duration implies, that never arrive); a
    packet that arrives but does not decode is only seen by decoding it (iter_frames)."""
    path = os.fspath(path)
    container = open_film(path)
    try:
        stream = video_stream(container, path)
        source = source_info(container, stream)
        stats, last_pts, torn = DecodeStats(), None, 0
        try:
            for packet in container.demux(stream):
                if packet.size:
                    stats.packets += 1
                    stats.discarded += bool(packet.is_discard)
                    torn += bool(packet.is_corrupt)           # cut off by the truncation: no frame comes of it
                    if packet.pts is not None and not packet.is_discard:
                        last_pts = packet.pts if last_pts is None else max(last_pts, packet.pts)
        except av.FFmpegError as e:
            stats.note(f"demuxer stopped: {_reason(e)}")
        stats.decoded = stats.packets - stats.discarded - torn    # as if every whole packet decoded
        stats.reached_end = True
        last_time = None if last_pts is None else float((last_pts - (stream.start_time or 0)) * stream.time_base)
        _count_missing(stats, source, None, None, last_time)
    finally:
        container.close()
    return lost_frames_message(path, stats)


def _decoded_frames(container, stream, stats):
    """Every frame the decoder can produce, in presentation order, stepping over what it rejects."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.FFmpegError as e:     # the demuxer cannot go on: flush what the decoder holds
            stats.note(f"demuxer stopped: {_reason(e)}")
            packet = None
        if packet is not None and packet.size:
            stats.packets += 1
            stats.discarded += bool(packet.is_discard)
        try:
            frames = stream.codec_context.decode(packet) if packet is None else packet.decode()
        except av.FFmpegError as e:
            if packet is not None and packet.size:
                stats.failed_packets += 1
            stats.note(f"decoder rejected a packet: {_reason(e)}")
            frames = []
        for frame in frames:
            if frame.is_corrupt:
                stats.corrupt_frames += 1
                continue
            stats.decoded += 1
            yield frame
        if packet is None:
            break
    stats.reached_end = True


def iter_frames(path, size=(96, 64), fit="crop", every=1, start=None, end=None, max_frames=None):
    """Decode a film into (uint8 H x W x 3 RGB frame at size=(W, H), seconds) pairs, lazily.

    Returns a FrameIterator: its .stats (DecodeStats) is complete once iteration ends, .source
    describes the video stream. Raises UserError at once for a missing/unreadable/video-less file,
    and at the end of iteration when not one frame came out (corrupt, or an empty --start/--end)."""
    path = os.fspath(path)
    _check_settings(size, fit, every, start, end, max_frames)
    container = open_film(path)
    try:
        stream = video_stream(container, path)
    except UserError:
        container.close()
        raise
    source = source_info(container, stream)
    stats = DecodeStats()
    generator = _frames(container, stream, source, stats, path, (int(size[0]), int(size[1])), fit,
                        int(every), start, end, max_frames)
    return FrameIterator(generator, stats, source, path)


def _frames(container, stream, source, stats, path, size, fit, every, start, end, max_frames):
    time_base = stream.time_base
    origin = stream.start_time or 0
    fps = _fps(stream)
    sample_aspect = _sample_aspect(stream)
    reformatter = VideoReformatter()
    # decoding is most of the work: FFmpeg's frame threads (several frames decoded at once, each on a core)
    # and slice threads where the codec allows them; the frame-to-model fitting below overlaps with them
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = DECODE_THREADS
    in_range = seen = 0
    last_time = None
    try:
        if start:
            try:   # to the keyframe before start; frames before start are decoded and skipped
                container.seek(origin + int(start / time_base), stream=stream, backward=True, any_frame=False)
            except av.FFmpegError:
                pass   # a file that cannot seek is decoded from its beginning
        for frame in _decoded_frames(container, stream, stats):
            if frame.pts is not None:
                seconds = float((frame.pts - origin) * time_base)
            else:      # no timestamp: count frames at the nominal rate
                seconds = seen / float(fps) if fps else float(seen)
            seen += 1
            last_time = seconds
            if start is not None and seconds < start - 1e-6:
                continue
            if end is not None and seconds >= end - 1e-6:
                stats.reached_end = False
                break
            in_range += 1
            if (in_range - 1) % every:
                continue
            if stats.kept == 0:
                stats.rotation = _degrees(frame.rotation)
            picture = fit_frame(frame, size, fit, rotation=frame.rotation or 0,
                                sample_aspect=sample_aspect, reformatter=reformatter)
            stats.kept += 1
            yield picture, seconds
            if max_frames is not None and stats.kept >= max_frames:
                stats.reached_end = False
                break
        else:
            _count_missing(stats, source, start, end, last_time)
    finally:
        container.close()
    if stats.kept == 0:
        if stats.decoded and (start is not None or end is not None):
            duration = source["duration"]
            length = f" (the film is {duration:.2f} s long)" if duration else ""
            span = (f"after --start {start:g}" if end is None else
                    f"between --start {start or 0:g} and --end {end:g}")
            raise UserError(f"{path}: no frames {span}{length}")
        if stats.lost or stats.errors or stats.packets:
            raise UserError(f"{path}: no frame could be decoded (truncated or corrupt file"
                            + (f": {stats.errors[0]}" if stats.errors else "") + ")")
        raise UserError(f"{path}: the video stream holds no frames")


def _count_missing(stats, source, start, end, last_time):
    """After reading a stream to its end: frames the container promised that never came."""
    if not stats.reached_end or start or end is not None:
        return
    # every packet delivered should have come out as one frame once the decoder is flushed
    unexplained = stats.packets - stats.discarded - stats.decoded - stats.failed_packets - stats.corrupt_frames
    stats.missing = max(0, unexplained)
    if source["frames_exact"]:
        # the index lists every frame: whatever it lists that did not come out good is lost, so
        # lost = max(failed + corrupt, listed - discarded - decoded)
        stats.missing = max(stats.missing, source["frames"] - stats.discarded - stats.decoded
                            - stats.failed_packets - stats.corrupt_frames)
    elif source["duration"] and source["fps"]:
        # no index: a stream that ends well (over a second) before its stated duration was cut short
        gap = source["duration"] - (0.0 if last_time is None else last_time + 1.0 / source["fps"])
        if gap > 1.0:
            stats.missing = max(stats.missing, int(round(gap * source["fps"])))
            stats.missing_estimated = True
            stats.note(f"stream ends {gap:.1f} s before its stated duration")
    if stats.missing and not stats.missing_estimated:
        stats.note(f"{stats.missing} of the {source['frames']} frames in the index are missing")
