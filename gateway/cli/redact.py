"""``footage-gateway redact IN OUT --mask SPEC ...``: mask a video file offline.

The same ``gateway.media.redact.redact`` that ingest runs, so a director can
check a camera's masks on a sample clip (``--preview`` draws them on a frame)
before putting them in the configuration.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import click

from gateway.config import MAX_POLYGON_POINTS, polygon_area, self_intersects
from gateway.errors import GatewayError
from gateway.media.masking import MODES, Mask

from .common import CliError


def parse_mask_spec(spec: str) -> tuple[tuple[float, float], ...]:
    """Parse ``"x,y x,y x,y ..."`` (normalized 0..1) into points; ValueError says what is wrong."""
    tokens = spec.split()
    points = []
    for token in tokens:
        parts = token.split(",")
        if len(parts) != 2:
            raise ValueError(f"point {token!r} is not of the form x,y")
        try:
            x, y = float(parts[0]), float(parts[1])
        except ValueError:
            raise ValueError(f"point {token!r}: coordinates must be numbers") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"point {token!r}: coordinates must be finite numbers")
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point {token!r} is out of range: coordinates are fractions 0..1 "
                             "of the frame width and height")
        points.append((x, y))
    if len(points) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(points)}")
    if len(points) > MAX_POLYGON_POINTS:
        raise ValueError(f"a polygon has at most {MAX_POLYGON_POINTS} points, got {len(points)}")
    if self_intersects(points):  # the same rules as a camera's [[cameras.masks]]
        raise ValueError("polygon edges cross each other; list the points in order around "
                         "the region")
    if polygon_area(points) == 0.0:
        raise ValueError("the polygon has zero area (its points are on one line)")
    return tuple(points)


def _mask_specs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]):
    try:
        return tuple(parse_mask_spec(value) for value in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@click.command("redact")
@click.argument("input_path", metavar="IN", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("output_path", metavar="OUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--mask", "masks", multiple=True, required=True, callback=_mask_specs,
              metavar="SPEC", help='Polygon "x,y x,y x,y ..." in 0..1 frame coordinates; repeatable.')
@click.option("--mode", type=click.Choice(MODES), default="fill", show_default=True,
              help="fill and pixelate are irreversible; blur can be partly undone.")
@click.option("--zone", default="other", show_default=True, help="Zone kind recorded on each mask.")
@click.option("--keep-audio", is_flag=True, help="Copy the audio track (dropped by default).")
@click.option("--preview", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a PNG of the first masked frame with the mask outlines.")
def redact_command(input_path: Path, output_path: Path, masks, mode: str, zone: str,
                   keep_audio: bool, preview: Path | None) -> None:
    """Mask polygons in the video IN and write an H.264 MP4 to OUT."""
    from gateway.media.redact import draw_preview, redact  # PyAV loads only when used

    if output_path.resolve() == input_path.resolve():
        raise click.BadParameter("OUT is the same file as IN; the original would be lost",
                                 param_hint="OUT")
    for target in (output_path, preview):
        if target is not None and not target.resolve().parent.is_dir():
            raise click.BadParameter(f"directory {target.parent} does not exist",
                                     param_hint="OUT" if target is output_path else "--preview")
    if mode == "blur":
        click.echo("warning: blur can be partly reversed for text; use fill or pixelate for "
                   "shelves and screens", err=True)
    mask_list = [Mask(points, mode, zone) for points in masks]
    data = input_path.read_bytes()
    try:
        result = redact(data, mask_list, keep_audio=keep_audio)
        if preview is not None:
            draw_preview(data, mask_list, str(preview))
        # Masked footage is still footage: the output is private to its owner (0600).
        fd = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(result.data)
    except GatewayError as exc:
        raise CliError(f"{input_path}: {exc.message}") from None
    except OSError as exc:
        raise CliError(f"cannot write {exc.filename or output_path}: "
                                   f"{exc.strerror or exc}") from None
    click.echo(f"{output_path}: {result.frames} frames, {result.width}x{result.height}, "
               f"{result.duration_us / 1e6:.2f} s, {len(mask_list)} mask(s) ({mode})")
    if preview is not None:
        click.echo(f"{preview}: preview")
