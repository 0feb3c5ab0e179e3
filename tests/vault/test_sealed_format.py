"""Sealed mode's crypto and file formats: the vectors decrypt, with our code and with an
independent RFC 9180 implementation; Shamir needs exactly the threshold; every binding holds."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.errors import ConfigError, IntegrityError
from gateway.vault import format as fmt
from gateway.vault import sealed as sl

VECTORS = Path(__file__).parents[1] / "vectors"
sys.path.insert(0, str(VECTORS))
import hpke_ref  # noqa: E402

DOC = json.loads((VECTORS / "sealed-wrap.json").read_text())
FAST_KDF = {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}

# RFC 9180 appendix A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base
# mode, sequence number 0 -- checks hpke_ref itself against the RFC.
RFC_A21 = {
    "skRm": "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb",
    "pkRm": "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a",
    "skEm": "f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600",
    "enc": "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a",
    "info": "4f6465206f6e2061204772656369616e2055726e",
    "aad": "436f756e742d30",
    "pt": "4265617574792069732074727574682c20747275746820626561757479",
    "ct": "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28",
}
h = bytes.fromhex


def test_reference_hpke_reproduces_rfc_9180_a21():
    v = RFC_A21
    assert hpke_ref.public_of(h(v["skRm"])) == h(v["pkRm"])
    assert hpke_ref.seal(h(v["pkRm"]), h(v["info"]), h(v["aad"]), h(v["pt"]), h(v["skEm"])) \
        == h(v["enc"]) + h(v["ct"])
    assert hpke_ref.open_(h(v["skRm"]), h(v["info"]), h(v["aad"]), h(v["enc"]) + h(v["ct"])) \
        == h(v["pt"])


def test_wrap_vector_opens_with_the_gateway_and_is_reproduced_by_the_reference():
    w = DOC["wrap"]
    sk = X25519PrivateKey.from_private_bytes(h(w["epoch_private_key_hex"]))
    assert sl.wrap_info(w["epoch_id"], h(w["key_id_hex"])) == h(w["info_hex"])
    wrapped = h(w["wrapped_hex"])
    assert len(wrapped) == sl.SEALED_WRAPPED_SIZE == 81 and wrapped[0] == 2
    assert sl.open_data_key(sk, w["epoch_id"], wrapped, h(w["key_id_hex"])) == h(w["data_key_hex"])
    again = hpke_ref.seal(h(w["epoch_public_key_hex"]), h(w["info_hex"]), b"",
                          h(w["data_key_hex"]), h(w["ephemeral_private_key_hex"]))
    assert b"\x02" + again == wrapped
    seg = DOC["segment"]
    assert fmt.open_sealed(h(seg["sealed_hex"]), h(w["data_key_hex"]),
                           expected_key_id=h(w["key_id_hex"])) == h(seg["plaintext_hex"])


def test_production_wraps_open_with_the_reference_and_are_bound_to_epoch_and_key_id():
    sk = X25519PrivateKey.generate()
    data_key, key_id = fmt.new_data_key(), fmt.new_key_id()
    wrapped = sl.seal_data_key(sk.public_key(), "seal-00000000000000aa", data_key, key_id)
    raw_sk = sl.private_bytes(sk)
    assert hpke_ref.open_(raw_sk, sl.wrap_info("seal-00000000000000aa", key_id), b"",
                          wrapped[1:]) == data_key
    assert wrapped != sl.seal_data_key(sk.public_key(), "seal-00000000000000aa", data_key, key_id)
    for epoch, kid in [("seal-00000000000000bb", key_id), ("seal-00000000000000aa", bytes(16))]:
        with pytest.raises(IntegrityError, match="failed authentication"):
            sl.open_data_key(sk, epoch, wrapped, kid)
    with pytest.raises(IntegrityError, match="failed authentication"):
        sl.open_data_key(X25519PrivateKey.generate(), "seal-00000000000000aa", wrapped, key_id)
    for bad in (wrapped[:-1], b"\x01" + wrapped[1:], wrapped[:40] + bytes([wrapped[40] ^ 1]) + wrapped[41:]):
        with pytest.raises(IntegrityError):
            sl.open_data_key(sk, "seal-00000000000000aa", bad, key_id)


def test_the_whole_chain_from_passphrases_to_plaintext():
    """What another implementation does: passphrases -> shares -> epoch key -> segment."""
    epoch = sl.Epoch.decode(json.dumps(DOC["epoch_file"]).encode(), "vector")
    shares = []
    for d in DOC["directors"]:
        key = sl.DirectorKey.decode(json.dumps(d["key_file"]).encode(), "vector")
        assert sl.derive_passphrase_key(d["passphrase"], key.kdf) == h(d["argon2id_key_hex"])
        dsk = sl.open_director_key(key, d["passphrase"])
        assert sl.private_bytes(dsk) == h(d["private_key_hex"])
        share = sl.open_share(epoch, d["name"], dsk)
        assert (share.x, share.y) == (d["share"]["x"], h(d["share"]["y_hex"]))
        # and the reference opens the same slot
        slot = epoch.slot(d["name"])
        assert hpke_ref.open_(h(d["private_key_hex"]), h(d["share"]["info_hex"]), b"",
                              slot.wrapped_share) == share.y
        shares.append(share)
    esk = sl.rebuild_epoch_key(epoch, shares)
    w = DOC["wrap"]
    assert sl.private_bytes(esk) == h(w["epoch_private_key_hex"])
    with pytest.raises(ValueError, match="needs 2 shares"):
        sl.rebuild_epoch_key(epoch, shares[:1])


def test_director_key_refuses_wrong_passphrase_and_weak_files():
    d = DOC["directors"][0]
    key = sl.DirectorKey.decode(json.dumps(d["key_file"]).encode(), "vector")
    with pytest.raises(sl.WrongPassphrase):
        sl.open_director_key(key, d["passphrase"] + "!")
    weak = json.loads(json.dumps(d["key_file"]))
    weak["kdf"]["memory_kib"] = 64  # an attacker-edited file must not make guessing cheap
    with pytest.raises(ConfigError, match="memory_kib"):
        sl.DirectorKey.decode(json.dumps(weak).encode(), "edited")
    renamed = json.loads(json.dumps(d["key_file"]))
    renamed["director"] = "dee"  # the name is bound in the AAD
    key2 = sl.DirectorKey.decode(json.dumps(renamed).encode(), "renamed")
    with pytest.raises(sl.WrongPassphrase):
        sl.open_director_key(key2, d["passphrase"])
    with pytest.raises(ValueError, match="12"):
        sl.new_director_key("dana", "short", **FAST_KDF)


@pytest.mark.parametrize("n,threshold", [(1, 1), (3, 1), (3, 2), (5, 3), (4, 4)])
def test_shamir_any_threshold_shares_rebuild_and_fewer_do_not(n, threshold):
    secret = bytes(range(7, 39))
    shares = sl.split_secret(secret, n, threshold)
    assert len({s.x for s in shares}) == n
    for subset in itertools.combinations(shares, threshold):
        assert sl.combine_shares(subset) == secret
    if threshold > 1:
        for subset in itertools.combinations(shares, threshold - 1):
            assert sl.combine_shares(subset) != secret
    else:
        assert all(s.y == secret for s in shares)


def test_shamir_vector():
    v = DOC["shamir"]
    shares = sl.split_secret(h(v["secret_hex"]), 2, v["threshold"],
                             _coefficients=[h(c) for c in v["coefficients_hex"]])
    assert [(s.x, s.y.hex()) for s in shares] == [
        (d["share"]["x"], d["share"]["y_hex"]) for d in DOC["directors"]]
    with pytest.raises(ValueError):
        sl.combine_shares([shares[0], shares[0]])


def test_epoch_slots_are_bound_to_epoch_and_director():
    a = sl.new_director_key("ann", "a long passphrase one", **FAST_KDF)
    b = sl.new_director_key("bob", "a long passphrase two", **FAST_KDF)
    epoch, sk = sl.new_epoch([(a.name, a.public_key), (b.name, b.public_key)], 1, 1)
    ask = sl.open_director_key(a, "a long passphrase one")
    share = sl.open_share(epoch, "ann", ask)
    assert share.y == sl.private_bytes(sk)  # threshold 1: each share is the key
    swapped = sl.Epoch(epoch.id, epoch.created_us, epoch.public_key, 1,
                       (sl.Slot("ann", a.public_key, 2, epoch.slot("bob").wrapped_share),))
    with pytest.raises(IntegrityError, match="does not open"):
        sl.open_share(swapped, "ann", ask)
    with pytest.raises(ConfigError, match="at least keys.unlock_quorum = 3"):
        sl.new_epoch([(a.name, a.public_key)], 3, 1)
