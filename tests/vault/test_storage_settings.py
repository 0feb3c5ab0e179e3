"""The [storage] section: a bad S3 setting fails at load with the key's path and what to do."""

from __future__ import annotations

import pytest

from gateway.config import parse_settings
from gateway.errors import ConfigError
from gateway.vault.s3 import S3Storage, read_secret

S3 = {"path": "/tmp/x", "backend": "s3", "endpoint": "http://127.0.0.1:9000", "bucket": "cctv",
      "prefix": "branch-a/"}


def load(**storage):
    return parse_settings({"storage": storage, "cameras": []})


@pytest.mark.parametrize("storage, message", [
    ({**S3, "bucket": None}, 'backend = "s3" needs bucket'),
    ({"path": "/tmp/x", "bucket": "cctv"}, 'bucket: only with backend = "s3"'),
    ({"path": "/tmp/x", "prefix": "a/"}, 'prefix: only with backend = "s3"'),
    ({**S3, "prefix": "../etc/"}, "storage.prefix: must be empty or path segments"),
    ({**S3, "prefix": "branch-a"}, "storage.prefix: must be empty or path segments"),
    ({**S3, "bucket": "CCTV_Bucket"}, "storage.bucket: not a valid bucket name"),
    ({**S3, "endpoint": "http://s3.library.example"}, "plain http only to this host"),
    ({**S3, "endpoint": "https://user:pw@s3.example"}, "without credentials in it"),
    ({**S3, "endpoint": "ftp://s3.example"}, "must be an http(s) URL"),
    ({**S3, "access_key": "AKIA"}, "access_key and secret_key_file go together"),
    ({**S3, "backend": "gcs"}, "storage.backend: Input should be 'local' or 's3'"),
    ({**S3, "bucket_name": "x"}, "storage.bucket_name: unknown key (did you mean 'bucket'?)"),
])
def test_bad_storage_settings_name_the_key(storage, message):
    storage = {k: v for k, v in storage.items() if v is not None}
    with pytest.raises(ConfigError) as err:
        load(**storage)
    assert message in err.value.message


def test_good_s3_settings_load_and_paths_resolve(tmp_path):
    s = parse_settings({"storage": {**S3, "path": "data", "access_key": "AKIA",
                                    "secret_key_file": "s3.secret"}, "cameras": []},
                       base_dir=tmp_path)
    assert s.storage.secret_key_file == str(tmp_path / "s3.secret")
    assert s.storage.verify_tls is True                    # TLS verification on by default


def test_the_secret_key_file_must_be_private_and_is_never_shown(tmp_path):
    f = tmp_path / "s3.secret"
    f.write_text("very-secret-key\n")
    f.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others") as err:
        read_secret(str(f))
    assert "very-secret-key" not in err.value.message
    f.chmod(0o600)
    assert read_secret(str(f)) == "very-secret-key"
    with pytest.raises(ConfigError, match="does not exist|No such file"):
        read_secret(str(tmp_path / "missing"))


def test_the_backend_never_shows_its_credentials(tmp_path):
    f = tmp_path / "s3.secret"
    f.write_text("very-secret-key")
    f.chmod(0o600)
    s = load(**{**S3, "access_key": "AKIAEXAMPLE", "secret_key_file": str(f)})
    store = S3Storage(s.storage)
    assert "very-secret-key" not in repr(store) and "AKIAEXAMPLE" not in repr(store)
    with pytest.raises(ValueError):
        store.key("../../etc/passwd")                       # names are uids, nothing else
    assert store.key("ab" * 16) == f"branch-a/segments/{'ab' * 16}.fgs"
