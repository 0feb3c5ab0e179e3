"""The storage backend the config names: ``local`` (a directory) or ``s3`` (a bucket)."""

from __future__ import annotations

import logging

from ..config import Settings
from ..errors import StoreUnavailable
from .storage import LocalStorage, Storage

log = logging.getLogger(__name__)


def open_storage(settings: Settings, *, check: bool = True) -> Storage:
    """The backend for ``settings.storage``; with ``check``, an S3 bucket that answers must
    have Object Lock enabled (ConfigError saying what to fix otherwise).

    A bucket that does not answer at start is not a reason to stay down: the gateway
    serves holds, views of what it can read and the notice, refuses uploads with 503,
    and says so (``footage_storage_up`` 0, alert FootageStorageDown)."""
    s = settings.storage
    if s.backend == "local":
        return LocalStorage(settings.storage_path)
    from .s3 import S3Storage

    store = S3Storage(s)
    if check:
        try:
            store.check_bucket()
        except StoreUnavailable as err:
            log.error("storage: bucket %r at %s does not answer (%s); starting anyway, "
                      "uploads are refused until it does", s.bucket,
                      s.endpoint or "AWS " + s.region, err.message)
        except BaseException:
            store.close()
            raise
    return store
