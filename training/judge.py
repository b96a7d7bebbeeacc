"""Read back what a demo image shows: its background colour, its shape colour and its shape.

Plain measurements, no learned classifier, so a verdict can be checked by hand:

- background: the median of the outer two-pixel ring, as the nearest palette colour;
- shape pixels: the largest connected region of pixels nearer the shape's colour (the median of
  those farther than 80 in RGB from the background) than the background's;
- shape colour: the median of the shape pixels, as the nearest palette colour;
- shape: from how much of its bounding box it fills and of its convex hull (solidity):
  a star is not convex, a square fills its box, a circle about 79% of it, a triangle about half.

On the training renderer's own images it is right over 99% of the time
(`python -m training.evaluate_demo_sd --check-judge`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.shapes import PALETTE

_NAMES = list(PALETTE)
_RGB = np.array([PALETTE[n] for n in _NAMES], dtype=np.float64)


@dataclass(frozen=True)
class Verdict:
    shape: str  # "none" when no shape stands out of the background
    colour: str
    background: str
    fill: float
    solidity: float


def nearest_colour(rgb: np.ndarray) -> str:
    return _NAMES[int(np.argmin(((_RGB - rgb) ** 2).sum(axis=1)))]


def _hull_area(points: np.ndarray) -> float:
    """Area of the convex hull of integer points (monotone chain, shoelace)."""
    pts = sorted({(int(x), int(y)) for x, y in points})
    if len(pts) < 3:
        return 0.0

    def cross(o: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> int:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[int, int]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[int, int]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    x = np.array([p[0] for p in hull], dtype=np.float64)
    y = np.array([p[1] for p in hull], dtype=np.float64)
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _border_median(pixels: np.ndarray) -> np.ndarray:
    ring = np.concatenate(
        [
            pixels[:2].reshape(-1, 3),
            pixels[-2:].reshape(-1, 3),
            pixels[:, :2].reshape(-1, 3),
            pixels[:, -2:].reshape(-1, 3),
        ]
    )
    return np.asarray(np.median(ring, axis=0), dtype=np.float64)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected region of a boolean mask."""
    seen = np.zeros_like(mask)
    best: list[tuple[int, int]] = []
    h, w = mask.shape
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        stack, region = [(int(y0), int(x0))], []
        while stack:
            y, x = stack.pop()
            region.append((y, x))
            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
        if len(region) > len(best):
            best = region
    out = np.zeros_like(mask)
    if best:
        ys, xs = zip(*best, strict=True)
        out[list(ys), list(xs)] = True
    return out


def shape_pixels(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask of shape pixels, background median colour) of an (H, W, 3) uint8 image.

    Pixels far (> 80) from the border's median colour give the shape's colour; then every pixel
    nearer that colour than the background's belongs to the shape (the half-way line, where an
    anti-aliased edge is), and the largest connected region of those is the shape.
    """
    pixels = image.astype(np.float64)
    background = _border_median(pixels)
    to_bg = np.sqrt(((pixels - background) ** 2).sum(axis=2))
    far = to_bg > 80.0
    if far.sum() < 16:
        return far, background
    colour = np.median(pixels[far], axis=0)
    to_shape = np.sqrt(((pixels - colour) ** 2).sum(axis=2))
    return _largest_component((to_shape < to_bg) & (to_bg > 40.0)), background


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (0 when both are empty)."""
    return float((a & b).sum() / max((a | b).sum(), 1))


def judge(image: np.ndarray) -> Verdict:
    mask, background = shape_pixels(image)
    bg_name = nearest_colour(background)
    ys, xs = np.nonzero(mask)
    if len(xs) < 16:
        return Verdict("none", "none", bg_name, 0.0, 0.0)
    colour = nearest_colour(np.median(image[mask].astype(np.float64), axis=0))
    box = float((xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1))
    area = float(len(xs))
    fill = area / box
    # Hull over pixel corners, so a filled square has solidity 1.
    corners = np.concatenate(
        [np.stack([xs + dx, ys + dy], axis=1) for dx in (0, 1) for dy in (0, 1)]
    )
    solidity = area / max(_hull_area(corners), 1.0)
    if solidity < 0.75:
        shape = "star"
    elif fill > 0.88:
        shape = "square"
    elif fill > 0.64:
        shape = "circle"
    else:
        shape = "triangle"
    return Verdict(shape, colour, bg_name, fill, solidity)
