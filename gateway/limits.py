"""What the gateway may spend and when it trusts its clock: the [media] and [clock] settings."""

from __future__ import annotations

from pydantic import Field, model_validator

from .strict import StrictModel

#: The memory bound's terms (Settings.memory_bound_bytes), measured by bench/memory.py.
BASE_RSS_BYTES = 256 * 1024 * 1024   # the idle server: Python, FFmpeg, OpenCV, numpy
# Each body byte in flight costs up to 3 bytes while it is processed: the body (read
# once into a buffer of its declared size), the sealed segment (the MP4 is sealed chunk
# by chunk as it is written: vault.sealbuf) and FFmpeg's buffers (bench/memory.py: a
# 64 MB upload peaks 170 MiB, 2.8x, above idle, the probe's decoder included).
BODY_COPIES_X2 = 6
MEDIA_DECODERS = 2                   # the media pool's workers (gateway.runtime)
# Frames one decode + re-encode holds at most (measured: 59 at 4096x4096, 51 at 1080p).
FRAMES_HELD = 72

class ClockSettings(StrictModel):
    """When the wall clock is trusted to destroy footage (docs/storage.md, "Clock jumps")."""

    jump_tolerance_s: float = Field(
        2.0, ge=0.1, le=3600,
        description="a wall-clock move beyond this against the monotonic clock between two "
                    "looks pauses destruction and hold expiry")
    settle_s: float = Field(
        60.0, ge=0, le=86400,
        description="after a jump is undone, the clocks must agree this long before "
                    "destruction resumes (otherwise: footage-gateway clock ack)")


class MediaSettings(StrictModel):
    """What one upload, and all uploads together, may cost (docs/operations.md, "Memory")."""

    # 4 MP (2560x1440) by default; at most 4096x4096, the decoders' own hard limit
    # (gateway.media.probe.MAX_PIXELS). Raising it raises the memory bound.
    max_frame_pixels: int = Field(
        2560 * 1440, ge=64 * 64, le=4096 * 4096,
        description="width x height of a frame, read from the stream headers before decoding")
    max_segment_pixel_frames: int = Field(
        2560 * 1440 * 15 * 120, ge=64 * 64,
        description="width x height x frames of one upload (the decode and re-encode work; "
                    "default: two minutes of 4 MP at 15 fps)")
    max_pixel_frames_in_flight: int = Field(
        2 * 2560 * 1440 * 15 * 120, ge=64 * 64,
        description="the same summed over every upload being processed; beyond it 503")
    max_bytes_in_flight: int = Field(
        384 * 1024 * 1024, ge=1024 * 1024, le=64 * 1024**3,
        description="upload bodies held in memory at once (declared Content-Length, or "
                    "storage.max_segment_bytes when none); beyond it 503")

    @model_validator(mode="after")
    def _ordered(self) -> "MediaSettings":
        if self.max_pixel_frames_in_flight < self.max_segment_pixel_frames:
            raise ValueError("max_pixel_frames_in_flight must be at least "
                             "max_segment_pixel_frames (or no upload of the maximum size fits)")
        return self
