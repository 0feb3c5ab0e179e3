"""One validated, frozen settings object, read from a TOML file.

Unknown keys and bad values fail with the key's path and what is allowed
(``cameras[0].masks[1].polygon: ...``). Validation has no side effects: token
files and the key ring are read when the app starts, not here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .durations import parse_duration  # noqa: F401
from .limits import (  # noqa: F401 (the memory bound's terms, re-exported)
    BASE_RSS_BYTES, BODY_COPIES_X2, FRAMES_HELD, MEDIA_DECODERS, ClockSettings, MediaSettings,
)
from .strict import Duration, StrictModel, check_duration  # noqa: F401
from .errors import ConfigError
from .geometry import polygon_area, self_intersects  # noqa: F401 (cli.redact uses them from here)
from .notify.settings import NotifySettings
from .segments.rtsp_settings import RtspSettings, check_rtsp_credentials, check_rtsp_url
from .storage_settings import StorageSettings  # noqa: F401 (re-exported)
from .users.settings import SessionSettings

CAMERA_ID = re.compile(r"^[a-z0-9-]{1,32}$")
MASK_MODES = ("fill", "pixelate", "blur")
MAX_POLYGON_POINTS = 64
#: Zone kinds a mask may name (what the masked region shows).
MASK_ZONES = ("shelves", "screen", "reading", "desk", "display", "other")




class ServerSettings(StrictModel):
    listen: str = Field("127.0.0.1:8080", description="host:port to listen on")
    public_url: str | None = Field(
        None, description="URL printed on the notice page; the base of links in notifications")
    max_concurrent_uploads: int = Field(
        8, ge=1, le=256,
        description="uploads read and processed at once; more get 503 (bounds memory)")
    tls_cert: str | None = Field(None, description="PEM certificate chain: with tls_key, "
                                 "serve HTTPS directly (TLS 1.2 or later)")
    tls_key: str | None = Field(None, description="PEM private key of tls_cert")
    trusted_proxies: list[str] = Field(
        default_factory=list, max_length=16,
        description="addresses of reverse proxies (e.g. ['127.0.0.1'] behind nginx) whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: list[str]) -> list[str]:
        import ipaddress
        for a in v:
            try:
                ipaddress.ip_address(a)
            except ValueError:
                raise ValueError(f"{a!r} is not an IP address") from None
        return v

    @model_validator(mode="after")
    def _tls_pair(self) -> "ServerSettings":
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("set tls_cert and tls_key together (HTTPS needs both), or neither")
        return self
    max_uploads_per_camera: int = Field(
        2, ge=1, le=256,
        description="uploads one camera may have in flight; more get 503, so one camera's "
                    "token cannot take every slot")
    body_timeout_s: float = Field(
        30.0, gt=0, le=3600,
        description="seconds an upload's whole body may take to arrive; slower gets 408 and "
                    "frees its slot")

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, e.g. '127.0.0.1:8080'")
        return v

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class KeysSettings(StrictModel):
    mode: Literal["ring", "sealed"] = Field(
        "ring", description="ring: a key ring file wraps data keys; sealed: the gateway holds "
                            "only public keys and a director unlocks to view or export "
                            "(docs/sealed-mode.md)")
    path: str | None = Field(None, description="key ring file; default STORAGE-keys/keyring")
    rotate_every: Duration = Field("1d", description="key epoch: KEKs older than this are retired")
    sealed_path: str | None = Field(
        None, description="sealed mode: directory of director key files and epoch files; "
                          "default STORAGE/sealed")
    unlock_idle: Duration = Field(
        "15m", description="sealed mode: an unlocked key unused this long locks itself (1m..1d)")
    unlock_max: Duration = Field(
        "8h", description="sealed mode: an unlocked key locks itself this long after unlock, "
                          "used or not (1m..7d; at least unlock_idle)")
    unlock_quorum: int = Field(
        1, ge=1, le=16, description="sealed mode: how many distinct directors must give their "
                                    "passphrase to unlock (M of the N enrolled)")

    _v = field_validator("rotate_every")(lambda cls, v: check_duration(v))

    @field_validator("unlock_idle", "unlock_max")
    @classmethod
    def _unlock_limit(cls, v: str, info) -> str:
        seconds = parse_duration(v)
        top = 86400 if info.field_name == "unlock_idle" else 7 * 86400
        if not 60 <= seconds <= top:
            raise ValueError(f"must be between 1m and {top // 86400}d")
        return v

    @model_validator(mode="after")
    def _idle_within_max(self) -> "KeysSettings":
        if parse_duration(self.unlock_idle) > parse_duration(self.unlock_max):
            raise ValueError("unlock_idle must not be longer than unlock_max")
        return self


class LibrarySettings(StrictModel):
    name: str = Field("Our library", min_length=1, max_length=200)
    contact: str = Field("the library director", min_length=1, max_length=500)
    timezone: str = Field("UTC", min_length=1, max_length=64,
                          description="IANA time zone (e.g. 'America/Chicago'): pages, the "
                                      "report and CLI output show local time; the API stays UTC")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}: use an IANA name such as "
                             "'America/Chicago' or 'Europe/Berlin'") from None
        return v


class MaskSettings(StrictModel):
    zone: Literal[MASK_ZONES]  # type: ignore[valid-type]
    polygon: list[tuple[float, float]] = Field(min_length=3, max_length=MAX_POLYGON_POINTS)
    mode: Literal["fill", "pixelate", "blur"] = "fill"

    @field_validator("polygon", mode="before")
    @classmethod
    def _ints_are_floats(cls, v):  # TOML writes 0 and 1 as integers
        if isinstance(v, list):
            return [
                tuple(float(c) if isinstance(c, int) and not isinstance(c, bool) else c for c in p)
                if isinstance(p, (list, tuple))
                else p
                for p in v
            ]
        return v

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for i, (x, y) in enumerate(v):
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"point {i} ({x}, {y}) is outside 0..1 (coordinates are normalized)")
        if self_intersects(v):
            raise ValueError("polygon edges cross each other; list the points in order around the region")
        if abs(polygon_area(v)) < 1e-9:
            raise ValueError("polygon has no area")
        return v


class CameraSettings(StrictModel):
    id: str = Field(description="[a-z0-9-]{1,32}")
    name: str = Field(min_length=1, max_length=200)
    policy: str = Field("ala-baseline", min_length=1)
    zone: str = Field(min_length=1, max_length=64)
    purpose: str = Field(min_length=1, max_length=500)
    push_token: SecretStr | None = None
    push_token_file: str | None = None
    rtsp_url: str | None = Field(
        None, description="pull the camera over RTSP (rtsp://host[:port]/path); credentials "
                          "better in rtsp_credentials_file")
    rtsp_credentials_file: str | None = Field(
        None, description="file holding the camera's RTSP 'user:password' on one line")
    rtsp_transport: Literal["tcp", "udp"] | None = Field(
        None, description="override rtsp.transport for this camera")
    retention: Duration | None = None
    retention_reason: str | None = None
    audio: bool = False
    masks: list[MaskSettings] = Field(default_factory=list)

    @field_validator("push_token", mode="before")
    @classmethod
    def _secret(cls, v):
        return SecretStr(v) if isinstance(v, str) else v

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not CAMERA_ID.match(v):
            raise ValueError("must match [a-z0-9-]{1,32} (lowercase letters, digits, '-')")
        return v

    @field_validator("retention")
    @classmethod
    def _retention(cls, v: str | None) -> str | None:
        return None if v is None else check_duration(v)

    @field_validator("push_token")
    @classmethod
    def _token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return v

    _rtsp = field_validator("rtsp_url")(lambda cls, v: check_rtsp_url(v))

    @model_validator(mode="after")
    def _one_token(self) -> "CameraSettings":
        if self.push_token is not None and self.push_token_file is not None:
            raise ValueError("set push_token or push_token_file, not both")
        check_rtsp_credentials(self.rtsp_url, self.rtsp_credentials_file)
        return self

    @property
    def has_push_token(self) -> bool:
        return self.push_token is not None or self.push_token_file is not None

    @property
    def retention_seconds(self) -> int | None:
        return None if self.retention is None else parse_duration(self.retention)


class Settings(StrictModel):
    """Everything the gateway reads from its config file, frozen."""

    server: ServerSettings = Field(default_factory=ServerSettings)
    storage: StorageSettings
    keys: KeysSettings = Field(default_factory=KeysSettings)
    clock: ClockSettings = Field(default_factory=ClockSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    library: LibrarySettings = Field(default_factory=LibrarySettings)
    rtsp: RtspSettings = Field(default_factory=RtspSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    policies_dir: str | None = Field(None, description="extra directory of policy files")
    cameras: list[CameraSettings] = Field(default_factory=list)
    notify: NotifySettings = Field(default_factory=NotifySettings)

    @model_validator(mode="after")
    def _unique_ids(self) -> "Settings":
        seen: set[str] = set()
        for cam in self.cameras:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} is used twice")
            seen.add(cam.id)
        if self.media.max_bytes_in_flight < self.storage.max_segment_bytes:
            raise ValueError("media.max_bytes_in_flight must be at least "
                             "storage.max_segment_bytes (or no upload of the maximum size fits)")
        return self

    @model_validator(mode="after")
    def _links(self) -> "Settings":
        if self.notify.enabled and not self.server.public_url:
            raise ValueError("[notify] needs server.public_url: every message links to the "
                             "hold's page there")
        return self
    def memory_bound_bytes(self) -> int:
        """The most memory uploads can hold at once (docs/operations.md, "Memory").

        Bodies in flight are counted 3 times (the body, the sealed segment,
        FFmpeg's buffers); each of the media pool's decoders holds
        up to ``FRAMES_HELD`` frames of the largest size allowed (the decoder's
        threads and references, the hand-over queue, x264's lookahead).
        """
        frame = self.media.max_frame_pixels * 3 // 2  # yuv420p
        return (BASE_RSS_BYTES + BODY_COPIES_X2 * self.media.max_bytes_in_flight // 2
                + MEDIA_DECODERS * FRAMES_HELD * frame)

    def camera(self, camera_id: str) -> CameraSettings | None:
        return next((c for c in self.cameras if c.id == camera_id), None)

    @property
    def storage_path(self) -> Path:
        return Path(self.storage.path)

    @property
    def keyring_path(self) -> Path:
        """keys.path, or beside STORAGE (never in it: a copy of STORAGE decrypts nothing)."""
        beside = self.storage_path.with_name(self.storage_path.name + "-keys")
        return Path(self.keys.path) if self.keys.path else beside / "keyring"

    @property
    def legacy_keyring_path(self) -> Path | None:  # before issue 10; moved at start
        return None if self.keys.path else self.storage_path / "keyring"

    @property
    def sealed_path(self) -> Path:
        return Path(self.keys.sealed_path) if self.keys.sealed_path else self.storage_path / "sealed"

    @property
    def audit_key_path(self) -> Path:  # the audit chain's HMAC key (gateway.vault.auditkey)
        return self.keyring_path.with_name(self.keyring_path.name + ".audit-key")

    @property
    def catalog_path(self) -> Path:
        return self.storage_path / "catalog.sqlite3"


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _did_you_mean(loc: tuple) -> str:
    """' (did you mean 'max_segment_bytes'?)' for a misspelt key, from the model's fields."""
    import difflib

    model: type[BaseModel] | None = Settings
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        ann = field.annotation if field else None
        inner = getattr(ann, "__args__", (ann,))
        model = next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)),
                     None)
    if model is None or not isinstance(loc[-1], str):
        return ""
    close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def format_validation_error(err: ValidationError, source: str = "config") -> str:
    lines = [f"invalid {source}:"]
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-after")))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key" + _did_you_mean(loc) + " (see 'Configuration' in README.md)"
        lines.append(f"  {_loc(loc)}: {msg}")
    return "\n".join(lines)


def parse_settings(data: dict, base_dir: Path | None = None, source: str = "config") -> Settings:
    """Validate a TOML-shaped dict; relative paths are taken from ``base_dir``."""
    try:
        settings = Settings.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None
    if base_dir is None:
        return settings
    return _resolve_paths(settings, base_dir)


def _resolve_paths(s: Settings, base: Path) -> Settings:
    def abs_(p: str | None) -> str | None:
        return None if p is None else str((base / p).resolve()) if not Path(p).is_absolute() else p

    n = s.notify
    return s.model_copy(
        update={
            "server": s.server.model_copy(update={"tls_cert": abs_(s.server.tls_cert),
                                                  "tls_key": abs_(s.server.tls_key)}),
            "notify": n.model_copy(update={
                "smtp_password_file": abs_(n.smtp_password_file),
                "smtp_ca_file": abs_(n.smtp_ca_file),
                "webhook_secret_file": abs_(n.webhook_secret_file),
                "webhook_ca_file": abs_(n.webhook_ca_file)}),
            "storage": s.storage.model_copy(update={
                "path": abs_(s.storage.path), "secret_key_file": abs_(s.storage.secret_key_file),
                "ca_file": abs_(s.storage.ca_file)}),
            "keys": s.keys.model_copy(update={"path": abs_(s.keys.path),
                                               "sealed_path": abs_(s.keys.sealed_path)}),
            "policies_dir": abs_(s.policies_dir),
            "cameras": [
                c.model_copy(update={"push_token_file": abs_(c.push_token_file),
                                     "rtsp_credentials_file": abs_(c.rtsp_credentials_file)})
                for c in s.cameras
            ],
        }
    )


def load_settings(path: str | Path) -> Settings:
    """Read and validate a config file; ConfigError says exactly what is wrong."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"invalid config {p}: TOML syntax error: {err}") from None
    return parse_settings(data, p.parent.resolve(), source=f"config {p}")
