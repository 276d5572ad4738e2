"""The frame store: a film decoded once into N x H x W x 3 uint8 on disk, read many times, memory-mapped.

A store is a directory of three files:

    frames.u8    the frames, raw uint8 in N x H x W x 3 order (frame i starts at byte i*H*W*3),
                 appended while decoding, so a film never has to fit in memory: a two-hour film at
                 256x144 is ~170k frames, ~19 GB, read back through np.memmap page by page
    times.f64    each frame's time in the source, float64 seconds (variable frame rates keep theirs)
    meta.json    the sidecar: format version, the source (path, size, mtime), the settings (size,
                 fit, every, start, end, max_frames), fps, time base, count, decode statistics, and
                 `complete`, which is written false before the first frame and true only after the
                 last byte is flushed, by an atomic rename. A store whose sidecar is missing, says
                 incomplete, or disagrees with the frames file's length is never used: it is rebuilt.

Reuse: open_or_build() reuses a complete store when the source's (path, size, mtime) and every setting
match, and rebuilds it otherwise. One store per directory: other settings overwrite it.

Readers, for the trainer: epoch_order(seed, epoch) is a permutation that depends on (seed, epoch)
alone, so a run resumed at (epoch, batch) sees the same batches it would have seen; shuffled_batches
cuts that order into full batches (the remainder is dropped, a different remainder each epoch);
in_order walks every frame once, for reconstruction. Batches are float32 NCHW in [-1, 1]:
x = u / 127.5 - 1, and back u = round((x + 1) * 127.5), exact for every uint8 value.
"""
import errno
import json
import math
import os
import shutil
import time

import av
import numpy as np

from vaegan.errors import UserError
from vaegan.media.decode import iter_frames
from vaegan.media.paths import check_output

FORMAT_VERSION = 1
FRAMES_FILE, TIMES_FILE, META_FILE = "frames.u8", "times.f64", "meta.json"
CHUNK_BYTES = 8 << 20    # frames are gathered into ~8 MB writes


# --- uint8 frames <-> the model's float batches ------------------------------------------------

def to_float_batch(frames):
    """uint8 N x H x W x 3 (or one H x W x 3) -> float32 N x 3 x H x W in [-1, 1]."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[3] != 3:
        raise ValueError(f"frames must be N x H x W x 3, got shape {frames.shape}")
    x = frames.transpose(0, 3, 1, 2).astype(np.float32)
    x /= np.float32(127.5)
    x -= np.float32(1.0)
    return x


def to_uint8_frames(x):
    """float N x 3 x H x W in [-1, 1] (values outside are clipped) -> uint8 N x H x W x 3."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"x must be N x 3 x H x W, got shape {x.shape}")
    u = np.rint((x.astype(np.float32) + np.float32(1.0)) * np.float32(127.5))
    return np.clip(u, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1).copy()


# --- writing ---------------------------------------------------------------------------------

def write_chunk(file, chunk):
    """Append frames to the open frames file (one function, so a test can make the disk full)."""
    file.write(memoryview(np.ascontiguousarray(chunk)).cast("B"))


def _write_json_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _source_identity(path):
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _progress(total, enabled, desc):
    from tqdm import tqdm
    # frames decoded, frames/s, and (when the total is known) time left
    return tqdm(total=total, unit="frame", desc=desc, disable=not enabled, dynamic_ncols=True,
                smoothing=0.1, leave=True)


def _expected_kept(source, every, start, end, max_frames):
    """About how many frames the settings keep: for the progress bar and the free-space check."""
    total = source.get("frames")
    if total is None:
        return None
    fps, duration = source.get("fps"), source.get("duration")
    if (start or end is not None) and fps and duration:
        span = min(duration, end if end is not None else duration) - (start or 0)
        total = max(0, int(round(span * fps)))
    kept = math.ceil(total / every)
    return min(kept, max_frames) if max_frames else kept


class FrameStore:
    """A complete store, opened read-only. Build or reuse one with FrameStore.open_or_build()."""

    def __init__(self, store_dir):
        self.dir = os.path.abspath(os.fspath(store_dir))
        meta_path = os.path.join(self.dir, META_FILE)
        try:
            with open(meta_path) as f:
                self.meta = json.load(f)
        except FileNotFoundError:
            raise UserError(f"{self.dir}: not a frame store (no {META_FILE})") from None
        except (ValueError, OSError) as e:
            raise UserError(f"{self.dir}: unreadable {META_FILE} ({e})") from None
        problem = self._problem()
        if problem:
            raise UserError(f"{self.dir}: {problem}")
        self.width, self.height = self.meta["width"], self.meta["height"]
        shape = (self.meta["count"], self.height, self.width, 3)
        self.frames = np.memmap(os.path.join(self.dir, FRAMES_FILE), dtype=np.uint8, mode="r", shape=shape)
        self.times = np.fromfile(os.path.join(self.dir, TIMES_FILE), dtype=np.float64)

    @classmethod
    def open(cls, store_dir):
        """Open an existing complete store (UserError when it is missing or half-written)."""
        return cls(store_dir)

    def _problem(self):
        """Why this directory does not hold a usable store, or None."""
        m = self.meta
        if m.get("format_version") != FORMAT_VERSION:
            return f"frame store format {m.get('format_version')} is not {FORMAT_VERSION}"
        if not m.get("complete"):
            return "frame store is half-written (interrupted while building)"
        try:
            frame_bytes = m["height"] * m["width"] * 3
            if os.path.getsize(os.path.join(self.dir, FRAMES_FILE)) != m["count"] * frame_bytes:
                return f"{FRAMES_FILE} does not hold the {m['count']} frames the sidecar lists"
            if os.path.getsize(os.path.join(self.dir, TIMES_FILE)) != m["count"] * 8:
                return f"{TIMES_FILE} does not hold {m['count']} times"
        except (KeyError, TypeError):
            return f"{META_FILE} lacks fields"
        except FileNotFoundError as e:
            return f"{os.path.basename(e.filename)} is missing"
        if m["count"] < 1:
            return "frame store holds no frames"
        return None

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def open_or_build(cls, path, store_dir, size=(96, 64), fit="crop", every=1, start=None, end=None,
                      max_frames=None, progress=True):
        """The store of `path` at these settings in store_dir: reused when it matches, else (re)built.

        The returned store's .reused says which happened."""
        from vaegan.media.decode import open_film
        path = os.fspath(path)
        open_film(path).close()      # a missing or unreadable film fails before anything is written
        settings = {"width": int(size[0]), "height": int(size[1]), "fit": fit, "every": int(every),
                    "start": start, "end": end, "max_frames": max_frames}
        store_dir = check_output(store_dir, folder="store", create=True, parents=False)
        source = _source_identity(path)
        try:
            store = cls(store_dir)
            if store.meta["source"] == source and store.meta["settings"] == settings:
                store.reused = True
                return store
        except UserError:
            pass    # absent, half-written, or of another format: build it
        cls._build(path, store_dir, source, settings, progress)
        store = cls(store_dir)
        store.reused = False
        return store

    @staticmethod
    def _build(path, store_dir, source, settings, progress):
        frames_path = os.path.join(store_dir, FRAMES_FILE)
        times_path = os.path.join(store_dir, TIMES_FILE)
        meta_path = os.path.join(store_dir, META_FILE)
        size = (settings["width"], settings["height"])
        frames = iter_frames(path, size=size, fit=settings["fit"], every=settings["every"],
                             start=settings["start"], end=settings["end"], max_frames=settings["max_frames"])
        frame_bytes = size[0] * size[1] * 3
        expected = _expected_kept(frames.source, settings["every"], settings["start"], settings["end"],
                                  settings["max_frames"])
        free = shutil.disk_usage(store_dir).free
        if expected and expected * frame_bytes > free:
            frames.close()
            raise UserError(f"{store_dir}: disk full: the store needs about {expected * frame_bytes / 1e9:.2f} GB, "
                            f"{free / 1e9:.2f} GB free")
        meta = {"format_version": FORMAT_VERSION, "complete": False, "source": source, "settings": settings,
                "width": size[0], "height": size[1], "count": 0}
        started = time.perf_counter()
        chunk = np.empty((max(1, CHUNK_BYTES // frame_bytes), size[1], size[0], 3), np.uint8)
        times, filled = [], 0
        try:
            for name in (meta_path, frames_path, times_path):    # the old store is gone before anything new lands
                if os.path.exists(name):
                    os.remove(name)
            _write_json_atomic(meta_path, meta)                   # "incomplete" is on disk first
            with open(frames_path, "wb") as out, \
                    _progress(expected, progress, os.path.basename(path)) as bar:
                for picture, seconds in frames:
                    chunk[filled] = picture
                    filled += 1
                    times.append(seconds)
                    if filled == len(chunk):
                        write_chunk(out, chunk)
                        filled = 0
                    bar.update(1)
                if filled:
                    write_chunk(out, chunk[:filled])
                out.flush()
                os.fsync(out.fileno())
            np.asarray(times, np.float64).tofile(times_path)
        except OSError as e:
            _remove_partial(store_dir)
            if isinstance(e, av.FFmpegError):       # reading the film, not writing the store
                raise UserError(f"{path}: read error while decoding ({e})") from None
            if e.errno == errno.ENOSPC:
                raise UserError(f"{store_dir}: disk full while writing the frame store after {len(times)} frames "
                                f"(partial store removed)") from None
            raise UserError(f"{store_dir}: cannot write the frame store ({e.strerror or e})") from None
        except BaseException:   # Ctrl-C, a decode error: leave nothing that could pass for a store
            _remove_partial(store_dir)
            raise
        finally:
            frames.close()
        seconds_taken = time.perf_counter() - started
        stats, src = frames.stats, frames.source
        fps = src["fps"] / settings["every"] if src["fps"] else _fps_from_times(times)
        meta.update(
            complete=True, count=len(times), fps=fps,
            source_fps=src["fps"], source_fps_fraction=src["fps_fraction"], time_base=src["time_base"],
            source_video={k: src[k] for k in ("codec", "width", "height", "pix_fmt", "sample_aspect",
                                              "duration", "frames", "frames_exact")},
            rotation=stats.rotation, lost_frames=stats.lost, lost_estimated=stats.missing_estimated,
            decode_errors=stats.errors, lost_message=frames.lost_message(),
            build_seconds=round(seconds_taken, 3),
        )
        _write_json_atomic(meta_path, meta)                       # and "complete" last

    # --- reading ----------------------------------------------------------------------------

    def __len__(self):
        return int(self.meta["count"])

    @property
    def fps(self):
        return float(self.meta["fps"])

    def epoch_order(self, seed, epoch):
        """A permutation of range(N) that depends on (seed, epoch) alone."""
        return np.random.default_rng([int(seed), int(epoch)]).permutation(len(self))

    def batch(self, indices):
        """Frames at `indices` as float32 N x 3 x H x W in [-1, 1], in the order given."""
        indices = np.asarray(indices, dtype=np.int64)
        order = np.argsort(indices, kind="stable")   # read the file forwards, then put back in order
        picked = np.empty((len(indices), self.height, self.width, 3), np.uint8)
        picked[order] = self.frames[indices[order]]
        return to_float_batch(picked)

    def batches_per_epoch(self, batch_size):
        return len(self) // int(batch_size)

    def shuffled_batches(self, batch_size, seed, epoch, start_batch=0, exclude=()):
        """Full batches of float32 NCHW in epoch `epoch`'s order, from batch number start_batch on, never
        a frame of `exclude` (frames held out of training). The last frames of the order that do not
        fill a batch are dropped (different ones each epoch)."""
        batch_size = int(batch_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if batch_size > len(self):
            raise UserError(f"{self.dir}: the store holds {len(self)} frames, fewer than a batch of {batch_size}")
        order = self.epoch_order(seed, epoch)
        if len(exclude):
            order = order[~np.isin(order, np.asarray(exclude, dtype=np.int64))]
        for b in range(int(start_batch), len(order) // batch_size):
            yield self.batch(order[b * batch_size:(b + 1) * batch_size])

    def in_order(self, batch_size):
        """(index of the first frame, float32 NCHW batch) over every frame in order; the last may be short."""
        batch_size = int(batch_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        for first in range(0, len(self), batch_size):
            yield first, to_float_batch(self.frames[first:first + batch_size])

    def describe(self):
        """One line for the user: what the store holds and whether it was built or reused."""
        m = self.meta
        how = "reused" if getattr(self, "reused", False) else (
            f"built in {m['build_seconds']:.1f} s, {len(self) / max(m['build_seconds'], 1e-9):.0f} frames/s")
        return (f"{self.dir}: {len(self)} frames {self.width}x{self.height} ({m['settings']['fit']}) "
                f"at {self.fps:g} fps from {os.path.basename(m['source']['path'])} ({how})")

    def __repr__(self):
        return f"FrameStore({self.dir!r}: {len(self)} frames {self.width}x{self.height} at {self.fps:g} fps)"


def _fps_from_times(times):
    if len(times) > 1 and times[-1] > times[0]:
        return (len(times) - 1) / (times[-1] - times[0])
    return 25.0   # a single frame with no rate: any rate shows it


def _remove_partial(store_dir):
    for name in (FRAMES_FILE, TIMES_FILE, META_FILE, META_FILE + ".tmp"):
        try:
            os.remove(os.path.join(store_dir, name))
        except FileNotFoundError:
            pass
