"""Checks a run's progress.gif with an independent decoder (Pillow): it
loops, every frame shows DELAY seconds, and the frames are the run's
sample grids, pixel for pixel, in the order given. Exits 77 (ctest's skip)
without Pillow.

usage: python3 gif_check.py GIF DELAY GRID.png [GRID.png ...]"""
import sys

try:
    from PIL import Image, ImageSequence
except ImportError:
    print("gif_check: Pillow is not installed (Debian: python3-pil); skipped")
    sys.exit(77)


def main():
    path, delay, grids = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    gif = Image.open(path)
    frames = [(f.convert("L").tobytes(), f.info.get("duration")) for f in ImageSequence.Iterator(gif)]
    problems = []
    if gif.info.get("loop") != 0:
        problems.append(f"loop is {gif.info.get('loop')}, not 0 (forever)")
    if len(frames) != len(grids):
        problems.append(f"{len(frames)} frames for {len(grids)} grids")
    for i, ((pixels, duration), grid) in enumerate(zip(frames, grids)):
        if pixels != Image.open(grid).convert("L").tobytes():
            problems.append(f"frame {i} is not {grid}")
        if duration != round(delay * 1000, -1):
            problems.append(f"frame {i} shows {duration} ms")
    for p in problems:
        print(f"gif_check: {path}: {p}")
    print(f"gif_check: {path}: {len(frames)} frames checked")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
