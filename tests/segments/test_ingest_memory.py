"""An upload's MP4 is sealed as it is made: the plaintext output is never whole in memory.

tracemalloc counts the Python-side buffers (the MP4 output, the sealed
chunks, their join); the bound below was 3.0x the upload before the output
was sealed chunk by chunk (a BytesIO, its copy, a list of sealed chunks and
their join) and is about 1.2x now (the sealed segment itself).
"""

from __future__ import annotations

import tracemalloc

import pytest

from gateway.media.masking import Mask
from gateway.media.synth import make_segment
from gateway.segments.ingest import MaskedSegment, _process, _sealed
from gateway.vault.format import open_sealed


@pytest.fixture(scope="module")
def upload() -> bytes:
    # Every frame a keyframe: ~2.7 MB, large against the fixed buffers.
    return make_segment(seconds=4, width=1280, height=720, fps=15, gop=1)


def test_remux_path_holds_one_sealed_copy_not_the_plaintext_too(upload):
    tracemalloc.start()
    try:
        result, sealed = _process(upload, (), False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.data == b"" and result.frames == 60
    assert len(sealed.blob) > len(upload) * 0.9
    assert peak < 1.5 * len(upload), f"peak {peak / len(upload):.2f}x the upload"


def test_masking_path_output_is_sealed_and_opens(upload):
    mask = Mask(zone="z", mode="fill", polygon=((0.1, 0.1), (0.5, 0.1), (0.5, 0.5)))
    result, sealed = _process(upload, (mask,), False)
    plain = open_sealed(bytes(sealed.blob), sealed.data_key, expected_key_id=sealed.key_id)
    assert plain[4:8] == b"ftyp" and len(plain) == sealed.plaintext_size
    seg = MaskedSegment(b"", 0, result.duration_us, result.frames, result.width, result.height,
                        True, sealed=sealed)
    assert _sealed(seg)[2] is sealed.blob  # committed as it is, not sealed twice


def test_a_segment_made_elsewhere_is_sealed_once(upload):
    seg = MaskedSegment(upload, 0, 1, 1, 2, 2, False)
    data_key, key_id, blob, _ = _sealed(seg)
    assert open_sealed(bytes(blob), data_key, expected_key_id=key_id) == upload
