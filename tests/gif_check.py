"""Checks a run's progress.gif with an independent decoder (Pillow): it
loops, every frame shows DELAY seconds, and the frames are the run's
sample grids in the order given: grey grids pixel for pixel, colour ones
(reduced to 256 colours a frame) within a mean of 2 levels of 255 per
channel. Exits 77 (ctest's skip) without Pillow.

usage: python3 gif_check.py GIF DELAY GRID.png [GRID.png ...]"""
import sys

try:
    from PIL import Image, ImageChops, ImageSequence, ImageStat
except ImportError:
    print("gif_check: Pillow is not installed (Debian: python3-pil); skipped")
    sys.exit(77)


def mean_difference(a, b):
    """Mean absolute difference of two images' channels."""
    if a.size != b.size:
        return float("inf")
    means = ImageStat.Stat(ImageChops.difference(a, b)).mean
    return sum(means) / len(means)


def main():
    path, delay, grids = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    gif = Image.open(path)
    colour = Image.open(grids[0]).mode in ("RGB", "RGBA")
    mode = "RGB" if colour else "L"
    frames = [(f.convert(mode), f.info.get("duration")) for f in ImageSequence.Iterator(gif)]
    wanted = [Image.open(grid).convert(mode) for grid in grids]
    problems = []
    if gif.info.get("loop") != 0:
        problems.append(f"loop is {gif.info.get('loop')}, not 0 (forever)")
    if len(frames) != len(grids):
        problems.append(f"{len(frames)} frames for {len(grids)} grids")
    worst = 0.0
    for i, ((pixels, duration), grid) in enumerate(zip(frames, grids)):
        if colour:
            error = mean_difference(pixels, wanted[i])
            worst = max(worst, error)
            if error > 2:
                problems.append(f"frame {i} is not {grid}: mean difference {error:.2f}")
        elif pixels.tobytes() != wanted[i].tobytes():
            problems.append(f"frame {i} is not {grid}")
        if duration != round(delay * 1000, -1):
            problems.append(f"frame {i} shows {duration} ms")
    for p in problems:
        print(f"gif_check: {path}: {p}")
    print(f"gif_check: {path}: {len(frames)} {'colour' if colour else 'grey'} frames checked"
          + (f", mean difference at most {worst:.2f}" if colour else ""))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
