"""Masks and how they are painted onto decoded YUV 4:2:0 planes, in place.

A ``Mask`` is a polygon in normalized coordinates (0..1, so it survives a
resolution change) with a mode. Each polygon is rasterised once per frame size
(``plan_for`` is cached per masks and (width, height)); per frame only numpy /
OpenCV slice operations on the Y, U and V planes run, no colour conversion.

Modes, strongest last (where masks overlap the later, stronger one wins):

* ``blur``: Gaussian blur with sigma = height / 40. Opt-in only: blurred text
  can be partly recovered (deconvolution, or comparing many frames), so it is
  not a redaction of readable material.
* ``pixelate``: every pixel takes the average of its ``block_size(height)``
  square (at least 16 px, height / 24 at larger sizes, even so the 4:2:0
  chroma block is exactly half). Blocks are anchored to the frame grid so they
  do not shimmer as content moves. One average per ~15x15 px (at 360p) block
  leaves no stroke of a letter.
* ``fill`` (default): Y = 16, U = V = 128, i.e. black in the limited (TV)
  range H.264 uses. Irreversible and the cheapest to encode.

Rasterisation is conservative: ``cv2.fillPoly`` includes every pixel the
outline touches, so a one-pixel sliver still covers a column, and a chroma
sample is masked when any of the four luma pixels it colours is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

import cv2
import numpy as np

from ..config import MASK_MODES

MODES = MASK_MODES
FILL_Y = 16
FILL_C = 128
# Fixed-point precision for cv2.fillPoly: 1/256 px is plenty for normalized input.
_SHIFT = 8
_STRENGTH = {"blur": 0, "pixelate": 1, "fill": 2}


@dataclass(frozen=True)
class Mask:
    """One masked region: a polygon of normalized (x, y) points, a mode and a zone kind."""

    polygon: tuple[tuple[float, float], ...]
    mode: str = "fill"
    zone: str = "other"

    def __post_init__(self) -> None:
        points = tuple((float(x), float(y)) for x, y in self.polygon)
        object.__setattr__(self, "polygon", points)
        if len(points) < 3:
            raise ValueError(f"a mask polygon needs at least 3 points, got {len(points)}")
        for x, y in points:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"mask point ({x}, {y}) is outside 0..1")
        if self.mode not in MODES:
            raise ValueError(f"mask mode must be one of {MODES}, got {self.mode!r}")

    @classmethod
    def from_settings(cls, settings) -> "Mask":
        """Build from a ``gateway.config.MaskSettings`` (anything with zone/polygon/mode)."""
        return cls(tuple(tuple(p) for p in settings.polygon), settings.mode, settings.zone)


def masks_from_settings(items: Iterable) -> tuple[Mask, ...]:
    """Convert a camera's configured masks."""
    return tuple(Mask.from_settings(item) for item in items)


def block_size(height: int) -> int:
    """Pixelation block edge in luma pixels: max(16, height / 24), rounded up to even."""
    size = max(16, math.ceil(height / 24))
    return size + size % 2


def blur_sigma(height: int) -> float:
    """Gaussian sigma for ``blur`` masks, in luma pixels."""
    return max(4.0, height / 40)


def rasterise(polygon: tuple[tuple[float, float], ...], width: int, height: int) -> np.ndarray:
    """The polygon as a uint8 (0/1) bitmap of the frame size, outline included."""
    bitmap = np.zeros((height, width), np.uint8)
    scale = 1 << _SHIFT
    points = np.array([(round(x * width * scale), round(y * height * scale)) for x, y in polygon],
                      np.int64)
    # fillPoly's fixed-point input wants int32; clamp far inside its range.
    points = np.clip(points, -(1 << 30), 1 << 30).astype(np.int32)
    cv2.fillPoly(bitmap, [points], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    cv2.polylines(bitmap, [points], True, 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return bitmap


def chroma_bitmap(luma: np.ndarray) -> np.ndarray:
    """4:2:0 chroma bitmap: a sample is in when any of its 2x2 luma pixels is."""
    h, w = luma.shape
    padded = np.pad(luma, ((0, h % 2), (0, w % 2)))
    return padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2).max(axis=(1, 3))


@dataclass(frozen=True)
class _Region:
    """One mask on one plane: a bounding box and, unless the box is full, its bitmap."""

    rows: slice
    cols: slice
    where: np.ndarray | None  # bool, the box's shape; None when every pixel is in


@dataclass(frozen=True)
class _Op:
    mode: str
    luma: _Region
    chroma: _Region
    block: int  # pixelate block (luma px); chroma uses block // 2
    sigma: float


class MaskPlan:
    """The masks rasterised for one frame size; ``apply`` paints them on a frame's planes."""

    def __init__(self, ops: tuple[_Op, ...], width: int, height: int) -> None:
        self.ops = ops
        self.width = width
        self.height = height

    def apply(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        """Paint every mask onto the Y, U, V plane views (modified in place)."""
        for op in self.ops:
            if op.mode == "fill":
                _fill(y, op.luma, FILL_Y)
                _fill(u, op.chroma, FILL_C)
                _fill(v, op.chroma, FILL_C)
            elif op.mode == "pixelate":
                _pixelate(y, op.luma, op.block)
                _pixelate(u, op.chroma, op.block // 2)
                _pixelate(v, op.chroma, op.block // 2)
            else:
                _blur(y, op.luma, op.sigma)
                _blur(u, op.chroma, op.sigma / 2)
                _blur(v, op.chroma, op.sigma / 2)


@lru_cache(maxsize=256)
def plan_for(masks: tuple[Mask, ...], width: int, height: int) -> MaskPlan:
    """Rasterise ``masks`` for a ``width`` x ``height`` frame (cached: once per camera and size)."""
    block = block_size(height)
    ops = []
    for mask in sorted(masks, key=lambda m: _STRENGTH[m.mode]):
        luma = rasterise(mask.polygon, width, height)
        if not luma.any():
            continue
        align = block if mask.mode == "pixelate" else 2
        luma_region = _region(luma, align)
        chroma_region = _region(chroma_bitmap(luma), align // 2, origin=luma_region)
        ops.append(_Op(mask.mode, luma_region, chroma_region, block, blur_sigma(height)))
    return MaskPlan(tuple(ops), width, height)


def _region(bitmap: np.ndarray, align: int, origin: _Region | None = None) -> _Region:
    """The bitmap's bounding box, its start aligned down to ``align`` (pixelate grid)."""
    if origin is not None:  # chroma: exactly half the luma box, so grids coincide
        r0, c0 = origin.rows.start // 2, origin.cols.start // 2
        r1 = min(bitmap.shape[0], -(-origin.rows.stop // 2))
        c1 = min(bitmap.shape[1], -(-origin.cols.stop // 2))
    else:
        rows = np.flatnonzero(bitmap.any(axis=1))
        cols = np.flatnonzero(bitmap.any(axis=0))
        r0, c0 = rows[0] - rows[0] % align, cols[0] - cols[0] % align
        r1, c1 = rows[-1] + 1, cols[-1] + 1
    where = bitmap[r0:r1, c0:c1].astype(bool)
    if where.all():
        where = None
    else:
        where.flags.writeable = False
    return _Region(slice(int(r0), int(r1)), slice(int(c0), int(c1)), where)


def _fill(plane: np.ndarray, region: _Region, value: int) -> None:
    roi = plane[region.rows, region.cols]
    if region.where is None:
        roi[...] = value
    else:
        np.copyto(roi, value, where=region.where)


def _pixelate(plane: np.ndarray, region: _Region, block: int) -> None:
    roi = plane[region.rows, region.cols]
    h, w = roi.shape
    nby, nbx = -(-h // block), -(-w // block)
    # Edge blocks cut by the frame border are padded by replication so every
    # block is whole; its average is still one value per block.
    padded = cv2.copyMakeBorder(roi, 0, nby * block - h, 0, nbx * block - w, cv2.BORDER_REPLICATE)
    means = cv2.resize(padded, (nbx, nby), interpolation=cv2.INTER_AREA)
    blocks = cv2.resize(means, (nbx * block, nby * block), interpolation=cv2.INTER_NEAREST)
    _paste(roi, blocks[:h, :w], region.where)


def _blur(plane: np.ndarray, region: _Region, sigma: float) -> None:
    # Blur a margin around the box too, so pixels at its edge see real neighbours.
    pad = int(3 * sigma)
    r0, r1 = max(0, region.rows.start - pad), min(plane.shape[0], region.rows.stop + pad)
    c0, c1 = max(0, region.cols.start - pad), min(plane.shape[1], region.cols.stop + pad)
    src = np.ascontiguousarray(plane[r0:r1, c0:c1])
    # A wide Gaussian costs O(sigma) per pixel; blurring a copy shrunk by
    # ``factor`` with sigma / factor and scaling back is the same low-pass
    # (up to interpolation) at a fraction of the cost.
    factor = max(1, int(sigma // 3))
    small = cv2.resize(src, (max(1, src.shape[1] // factor), max(1, src.shape[0] // factor)),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
    blurred = cv2.resize(small, (src.shape[1], src.shape[0]), interpolation=cv2.INTER_LINEAR)
    inner = blurred[region.rows.start - r0 : region.rows.stop - r0,
                    region.cols.start - c0 : region.cols.stop - c0]
    _paste(plane[region.rows, region.cols], inner, region.where)


def _paste(roi: np.ndarray, values: np.ndarray, where: np.ndarray | None) -> None:
    if where is None:
        roi[...] = values
    else:
        np.copyto(roi, values, where=where)
