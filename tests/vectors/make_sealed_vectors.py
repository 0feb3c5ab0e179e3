"""Regenerate tests/vectors/sealed-wrap.json (run only when the sealed format changes).

    .venv/bin/python tests/vectors/make_sealed_vectors.py

Every input is fixed -- keys, salts, nonces and the HPKE ephemeral keys (the
sender of tests/vectors/hpke_ref.py takes them as input) -- so the output is
deterministic. tests/test_sealed_format.py checks the file against the gateway's
code and against hpke_ref. The chain a second implementation follows:
passphrase -> argon2id -> director private key -> epoch share -> epoch private
key -> data key -> segment plaintext (docs/segment-format.md, "Sealed wrap").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).parent))
import hpke_ref  # noqa: E402

from gateway.vault import format as fmt  # noqa: E402
from gateway.vault import sealed as sl  # noqa: E402

OUT = Path(__file__).with_name("sealed-wrap.json")

EPOCH_ID = "seal-0123456789abcdef"
EPOCH_SK = bytes.fromhex("e0" + "11" * 30 + "4f")
DATA_KEY = bytes(range(32))
KEY_ID = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")
SALT = bytes.fromhex("5a" * 16)
PLAINTEXT = b"footage-gateway sealed vector: a tiny segment"
WRAP_SKE = bytes.fromhex("77" * 32)
DIRECTORS = [
    {"name": "dana", "passphrase": "correct horse battery staple",
     "private": bytes.fromhex("a8" * 31 + "40"), "salt": bytes.fromhex("d1" * 16),
     "nonce": bytes.fromhex("c1" * 12), "share_ske": bytes.fromhex("88" * 32)},
    {"name": "dee", "passphrase": "another long passphrase",
     "private": bytes.fromhex("b0" * 31 + "41"), "salt": bytes.fromhex("d2" * 16),
     "nonce": bytes.fromhex("c2" * 12), "share_ske": bytes.fromhex("99" * 32)},
]
KDF = {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}  # small for tests; default is 3/64 MiB/4
QUORUM = 2
COEFF = [bytes.fromhex("3c" * 32)]  # the one random coefficient of a 2-of-2 split


def main() -> None:
    epoch_pk = hpke_ref.public_of(EPOCH_SK)
    info = sl.wrap_info(EPOCH_ID, KEY_ID)
    wrapped = bytes([sl.SEALED_WRAP_VERSION]) + hpke_ref.seal(epoch_pk, info, b"", DATA_KEY, WRAP_SKE)
    segment = fmt.seal(PLAINTEXT, DATA_KEY, KEY_ID, _salt=SALT)

    shares = sl.split_secret(EPOCH_SK, len(DIRECTORS), QUORUM, _coefficients=COEFF)
    directors, slots = [], []
    for d, share in zip(DIRECTORS, shares):
        key = sl.new_director_key(d["name"], d["passphrase"], _private=d["private"],
                                  _salt=d["salt"], _nonce=d["nonce"], **KDF)
        kek = sl.derive_passphrase_key(d["passphrase"], key.kdf)
        s_info = sl.share_info(EPOCH_ID, d["name"], share.x)
        wrapped_share = hpke_ref.seal(key.public_key, s_info, b"", share.y, d["share_ske"])
        slots.append(sl.Slot(d["name"], key.public_key, share.x, wrapped_share))
        directors.append({
            "name": d["name"], "passphrase": d["passphrase"],
            "argon2id_key_hex": kek.hex(), "private_key_hex": d["private"].hex(),
            "aad_hex": sl.director_aad(d["name"], key.public_key).hex(),
            "share": {"x": share.x, "y_hex": share.y.hex(), "info_hex": s_info.hex()},
            "key_file": json.loads(key.encode())})
    epoch = sl.Epoch(EPOCH_ID, 1_700_000_000_000_000, epoch_pk, QUORUM, tuple(slots))
    doc = {
        "description": "Sealed-mode vectors: see docs/segment-format.md, 'Sealed wrap'. "
                       "Open each director key file with its passphrase, open that director's "
                       "share in the epoch file, combine the shares (GF(2^8), AES polynomial "
                       "0x11b), open the wrapped data key, open the segment.",
        "suite": sl.SUITE_NAME,
        "wrap": {"epoch_id": EPOCH_ID, "epoch_private_key_hex": EPOCH_SK.hex(),
                 "epoch_public_key_hex": epoch_pk.hex(), "key_id_hex": KEY_ID.hex(),
                 "data_key_hex": DATA_KEY.hex(), "info_hex": info.hex(),
                 "ephemeral_private_key_hex": WRAP_SKE.hex(), "wrapped_hex": wrapped.hex()},
        "segment": {"plaintext_hex": PLAINTEXT.hex(), "sealed_hex": segment.hex()},
        "shamir": {"secret_hex": EPOCH_SK.hex(), "threshold": QUORUM,
                   "coefficients_hex": [c.hex() for c in COEFF]},
        "directors": directors,
        "epoch_file": json.loads(epoch.encode()),
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
