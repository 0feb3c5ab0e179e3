"""Just enough H.264 bitstream reading for the remux path: find parameter sets, read a size.

The remux path never decodes, yet must notice a camera that changed its
resolution (a new SPS arrives in band with the next IDR) and record the
size the pictures really have.
"""

from __future__ import annotations

import re

_START = re.compile(b"\x00\x00\x01")


def parameter_sets(data: bytes, hevc: bool) -> bytes | None:
    """The SPS (H.264) or VPS+SPS (H.265) NAL units in an Annex-B packet, if it carries any."""
    out = []
    starts = [m.end() for m in _START.finditer(data)]
    for i, s in enumerate(starts):
        if s >= len(data):
            continue
        kind = (data[s] >> 1) & 0x3F if hevc else data[s] & 0x1F
        if kind in ((32, 33) if hevc else (7,)):
            end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
            out.append(data[s:end].rstrip(b"\x00"))
    return b"".join(out) or None


def _first_sps(data: bytes) -> bytes | None:
    for m in _START.finditer(data):
        s = m.end()
        if s < len(data) and data[s] & 0x1F == 7:
            nxt = _START.search(data, s)
            return data[s:nxt.start() if nxt else len(data)].rstrip(b"\x00")
    return None


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        v = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3] if (self.pos >> 3) < len(self.data) else 0
            v = (v << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def h264_sps_size(sps: bytes) -> tuple[int, int] | None:
    """(width, height) an H.264 SPS NAL unit (header byte included) declares, or None."""
    try:
        rbsp = sps[1:].replace(b"\x00\x00\x03", b"\x00\x00")
        b = _Bits(rbsp)
        profile = b.u(8)
        b.u(16)  # constraint flags, level
        b.ue()  # seq_parameter_set_id
        chroma = 1
        if profile in _HIGH_PROFILES:
            chroma = b.ue()
            if chroma == 3:
                b.u(1)
            b.ue(), b.ue(), b.u(1)  # bit depths, qpprime_y_zero_transform_bypass
            if b.u(1):  # seq_scaling_matrix_present
                for i in range(12 if chroma == 3 else 8):
                    if b.u(1):
                        last = nxt = 8
                        for _ in range(16 if i < 6 else 64):
                            if nxt:
                                nxt = (last + b.se() + 256) % 256
                            last = nxt or last
        b.ue()  # log2_max_frame_num_minus4
        poc = b.ue()
        if poc == 0:
            b.ue()
        elif poc == 1:
            b.u(1), b.se(), b.se()
            for _ in range(b.ue()):
                b.se()
        b.ue(), b.u(1)  # max_num_ref_frames, gaps_in_frame_num_allowed
        w_mbs, h_units = b.ue() + 1, b.ue() + 1
        frame_mbs_only = b.u(1)
        if not frame_mbs_only:
            b.u(1)
        b.u(1)  # direct_8x8_inference
        crop = (b.ue(), b.ue(), b.ue(), b.ue()) if b.u(1) else (0, 0, 0, 0)
        cx, cy = (1, 2 - frame_mbs_only) if chroma == 0 else (
            2 if chroma in (1, 2) else 1, (2 if chroma == 1 else 1) * (2 - frame_mbs_only))
        width = w_mbs * 16 - cx * (crop[0] + crop[1])
        height = (2 - frame_mbs_only) * h_units * 16 - cy * (crop[2] + crop[3])
        return (width, height) if width > 0 and height > 0 else None
    except (IndexError, ValueError):
        return None
