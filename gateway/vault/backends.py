"""The storage backend the config names: ``local`` (a directory) or ``s3`` (a bucket)."""

from __future__ import annotations

from ..config import Settings
from ..errors import ConfigError, StoreUnavailable
from .storage import LocalStorage, Storage


def open_storage(settings: Settings, *, check: bool = True) -> Storage:
    """The backend for ``settings.storage``; with ``check``, an S3 bucket must answer and
    have Object Lock enabled (ConfigError saying what to fix otherwise)."""
    s = settings.storage
    if s.backend == "local":
        return LocalStorage(settings.storage_path)
    from .s3 import S3Storage

    store = S3Storage(s)
    if check:
        try:
            store.check_bucket()
        except StoreUnavailable as err:
            store.close()
            raise ConfigError(f"storage: cannot reach bucket {s.bucket!r} at "
                              f"{s.endpoint or 'AWS ' + s.region}: {err.message}") from None
        except BaseException:
            store.close()
            raise
    return store
