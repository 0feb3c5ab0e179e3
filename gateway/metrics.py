"""Prometheus collectors with the contract's names (docs/interface.md, "Metrics").

Each app owns its own registry, so tests can build many apps in one process.
Gauges that summarise the catalog are refreshed by a small loop, not per scrape.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LAG_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 86400)
REDACT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.segments_stored = Gauge("footage_segments_stored", "Segments kept, per camera",
                                     ["camera"], registry=r)
        self.bytes_stored = Gauge("footage_bytes_stored", "Ciphertext bytes kept, per camera",
                                  ["camera"], registry=r)
        self.past_deadline = Gauge(
            "footage_segments_past_deadline",
            "Segments past their deadline, not held and not destroyed (must be 0)",
            ["camera"], registry=r)
        self.purge_lag = Histogram("footage_purge_lag_seconds",
                                   "destroyed_at - deadline of each purged segment",
                                   buckets=LAG_BUCKETS, registry=r)
        self.purged = Counter("footage_segments_purged", "Segments destroyed", ["camera"],
                              registry=r)
        self.rejected = Counter("footage_ingest_rejected", "Uploads refused, by reason",
                                ["camera", "reason"], registry=r)
        self.ingested = Counter("footage_segments_ingested", "Segments accepted", ["camera"],
                                registry=r)
        self.ingested_bytes = Counter("footage_ingest_bytes", "Bytes accepted (before sealing)",
                                      ["camera"], registry=r)
        self.oldest_age = Gauge("footage_oldest_segment_age_seconds",
                                "Age of the oldest kept segment's start", ["camera"], registry=r)
        self.retention = Gauge("footage_retention_seconds", "Configured retention per camera",
                               ["camera"], registry=r)
        self.holds = Gauge("footage_holds", "Preservation holds by state", ["state"], registry=r)
        self.redaction_frames = Counter("footage_redaction_frames", "Frames masked at ingest",
                                        ["camera"], registry=r)
        self.redaction_seconds = Histogram("footage_redaction_seconds",
                                           "Time to mask and re-encode one segment",
                                           ["camera"], buckets=REDACT_BUCKETS, registry=r)
        self.audit_verified = Gauge("footage_audit_chain_verified",
                                    "1 when the audit hash chain verified intact, 0 when broken",
                                    registry=r)
        self.key_unlocked = Gauge("footage_key_unlocked",
                                  "Sealed mode: 1 while a director's unlock holds the key in "
                                  "memory, 0 when locked", registry=r)
        self.unlock_failures = Counter("footage_key_unlock_failures",
                                       "Sealed mode: unlock attempts with a wrong passphrase",
                                       registry=r)
        self.wal_erased_pending = Gauge(
            "footage_wal_erased_keys_pending",
            "Erased data keys that may still sit in the catalog's WAL because a long reader "
            "blocked the truncating checkpoint (retried every second; must return to 0)",
            registry=r)
        self.storage_free = Gauge("footage_storage_free_bytes", "Free bytes on the storage volume",
                                  registry=r)

        # RTSP pull (gateway/segments/rtsp.py). Labels: camera, and a reason from a fixed set.
        self.camera_up = Gauge("footage_camera_up",
                               "1 while the gateway receives the camera's RTSP stream", ["camera"],
                               registry=r)
        self.camera_reconnects = Counter("footage_camera_reconnects",
                                         "Connection attempts after the first, per camera",
                                         ["camera"], registry=r)
        self.camera_last_frame_age = Gauge(
            "footage_camera_last_frame_age_seconds",
            "Seconds since the last video packet arrived from the camera", ["camera"], registry=r)
        self.camera_failures = Counter(
            "footage_camera_failures", "Failed or broken RTSP connections, by reason",
            ["camera", "reason"], registry=r)
        self.segments_dropped = Counter(
            "footage_segments_dropped",
            "Segments not stored (behind, interrupted, corrupt, storage_behind, refused, shutdown)",
            ["camera", "reason"], registry=r)
        self.clock_jump = Gauge(
            "footage_clock_jump_seconds",
            "How far the wall clock moved against the monotonic clock at the last look "
            "(+ = ahead); beyond clock.jump_tolerance_s destruction pauses", registry=r)
        self.purge_paused = Gauge(
            "footage_purge_paused",
            "1 while destruction and hold expiry are paused because the wall clock jumped",
            registry=r)
        self.camera_skew = Gauge(
            "footage_camera_clock_skew_seconds",
            "The camera's claimed segment end minus the gateway's receipt time, last segment "
            "(+ = camera ahead)", ["camera"], registry=r)
        # The object store's side (gateway.segments.store_loop, docs/storage.md "S3").
        self.store_up = Gauge("footage_storage_up",
                              "1 when the storage backend answered its last call, else 0",
                              registry=r)
        self.store_errors = Counter("footage_storage_errors",
                                    "Storage calls that failed, by operation", ["op"], registry=r)
        self.deletes_pending = Gauge(
            "footage_storage_deletes_pending",
            "Destroyed segments (key erased) whose ciphertext the store has not yet deleted",
            registry=r)
        self.delete_oldest = Gauge(
            "footage_storage_delete_pending_seconds",
            "How long the oldest owed deletion has waited (0 when none)", registry=r)
        self.legal_holds_pending = Gauge(
            "footage_storage_legal_holds_pending",
            "Segments whose store legal hold differs from the holds (ON or OFF still to set)",
            registry=r)
        self.scrub_problems = Gauge(
            "footage_storage_scrub_problems",
            "Last full scrub: ciphertext missing for a kept row (lost footage)", registry=r)
        self.store_up.set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
