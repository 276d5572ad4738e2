"""python -m bench.decode: how fast a film is decoded into the frame store, in frames/s.

    python -m bench.decode                                  # a 720p clip, into 96x64 and 256x144
    python -m bench.decode --frames 240 --size 256x144 --repeats 5
    python -m bench.decode --film film.mp4 --threads 1      # a film of your own; decoding on one thread

The source is generated in a temporary folder: vaegan.media.sample_clip's moving shapes (three shots, cuts,
a fade) at --source size (default 1280x720), with film grain (--grain, Gaussian, in uint8 levels) so
that its bitrate is a real film's, written as H.264 by vaegan.media.film.FilmWriter at 24 fps.
Then, for each --size, two rows, each the median of --repeats runs:
    decode+fit     vaegan.media.decode.iter_frames alone: demux, decode, convert to RGB, resize and crop
    frame store    vaegan.media.framestore.FrameStore.open_or_build into a fresh folder: the same, plus the
                   uint8 frames written to disk and the sidecar (what `train` does once per film)
frames/s is frames kept / seconds; MB/s is the store's bytes written / seconds. Training must never wait
for this: compare frames/s with bench.train's. --threads sets FFmpeg's decoding threads
(vaegan.media.decode.DECODE_THREADS: 0, the default, lets FFmpeg choose; 1 is decoding without threads).
"""
import argparse
import itertools
import os
import shutil
import statistics
import tempfile
import time

import numpy as np

from vaegan.media.film import FilmWriter
from vaegan.media.decode import iter_frames, parse_size
from vaegan.media.framestore import FrameStore
from vaegan.media.sample_clip import generated_frames

from .report import describe, environment, num, table, write_json

FPS = 24
GRAIN = 3.0


def write_source(path, size, frames, grain=GRAIN):
    """An H.264 clip of `frames` generated frames at `size` (W, H), with film grain of standard deviation
    `grain` (uint8 levels) added, so that the bitrate, and the decoder's work, is a film's rather than
    a cartoon's (flat shapes alone compress to almost nothing)."""
    shot = max(-(-frames // 3), 4)     # generated_frames needs 4 frames a shot for its fade
    rng = np.random.default_rng(0)
    with FilmWriter(path, FPS, size[0], size[1]) as film:
        for frame in itertools.islice(generated_frames(size, shot_frames=shot), frames):
            noisy = frame + rng.normal(0.0, grain, frame.shape) if grain else frame
            film.write(np.clip(noisy, 0, 255).astype(np.uint8))
    return path


def _decode_only(path, size):
    count = 0
    for _ in iter_frames(path, size=size):
        count += 1
    return count


def _into_store(path, size, folder):
    if os.path.exists(folder):
        shutil.rmtree(folder)
    store = FrameStore.open_or_build(path, folder, size=size, progress=False)
    assert not store.reused
    return len(store)


def run(source=(1280, 720), frames=72, sizes=((96, 64), (256, 144)), repeats=3, grain=GRAIN, workdir=None,
        film=None, threads=0):
    """Returns the report: the rows, the source's description and the environment. film: decode this file
    instead of generating one."""
    import vaegan.media.decode as decode

    decode.DECODE_THREADS = threads
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = film or write_source(os.path.join(tmp, "source.mp4"), source, frames, grain)
        rows = []
        for size in sizes:
            for what, fn in (("decode+fit", lambda: _decode_only(path, size)),
                             ("frame store", lambda: _into_store(path, size, os.path.join(tmp, "store")))):
                times, count = [], 0
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    count = fn()
                    times.append(time.perf_counter() - t0)
                s = statistics.median(times)
                store_bytes = count * size[0] * size[1] * 3 if what == "frame store" else None
                rows.append({"size": f"{size[0]}x{size[1]}", "what": what, "frames": count, "seconds": s,
                             "frames_per_s": count / s, "MBps": store_bytes / s / 1e6 if store_bytes else None})
        source_bytes = os.path.getsize(path)
    threading = f"decoding threads: {threads or 'auto'}"
    if film:
        return {"env": environment(), "source": f"{film}, {source_bytes / 1e6:.1f} MB, {threading}",
                "repeats": repeats, "rows": rows}
    return {"env": environment(), "source": f"{source[0]}x{source[1]} H.264 (libx264 crf 18), {frames} frames "
            f"at {FPS} fps, grain {grain:g}, {source_bytes / 1e6:.1f} MB ({source_bytes * 8 * FPS / frames / 1e6:.1f} "
            f"Mbit/s), {threading}", "repeats": repeats, "rows": rows}


def format_report(r):
    body = [[x["size"], x["what"], x["frames"], num(x["seconds"]), f"{x['frames_per_s']:.0f}", num(x["MBps"])]
            for x in r["rows"]]
    return "\n".join([f"bench.decode  source {r['source']}  (median of {r['repeats']} runs)", describe(r["env"]),
                      table(["size", "what", "frames", "s", "frames/s", "MB/s"], body,
                            right=("frames", "s", "frames/s", "MB/s"))])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.decode", description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default="1280x720", help="size of the generated source film (default 1280x720)")
    ap.add_argument("--frames", type=int, default=72, help="frames in the source (default 72: 3 s at 24 fps)")
    ap.add_argument("--size", action="append", default=None, help="frame store size, repeatable "
                    "(default 96x64 and 256x144)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--grain", type=float, default=GRAIN, help=f"film grain of the source (default {GRAIN:g})")
    ap.add_argument("--film", help="decode this film instead of a generated one (--source, --frames, --grain unused)")
    ap.add_argument("--threads", type=int, default=0, help="FFmpeg's decoding threads (default 0: FFmpeg chooses)")
    ap.add_argument("--json", help="also write the report to this file")
    a = ap.parse_args(argv)
    sizes = tuple(parse_size(s) for s in (a.size or ["96x64", "256x144"]))
    r = run(parse_size(a.source), a.frames, sizes, a.repeats, a.grain, film=a.film, threads=a.threads)
    print(format_report(r))
    if a.json:
        write_json(a.json, r)


if __name__ == "__main__":
    main()
