-- Notifications (gateway/notify): one row per event and channel, so each event is
-- sent once, even across restarts, and a failed send is retried from here.
-- The payload carries no personal data: the incident reference, cameras, times
-- and a link (docs/operations.md, "Notifications"). Rows are deleted 30 days
-- after they are sent or given up.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    event_key TEXT NOT NULL,
    channel TEXT NOT NULL,                   -- mail | webhook
    kind TEXT NOT NULL,                      -- hold.requested, ... (gateway.notify.settings)
    payload TEXT NOT NULL,                   -- JSON: subject, text, data
    state TEXT NOT NULL DEFAULT 'pending',   -- pending | sent | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    created_us INTEGER NOT NULL,
    next_attempt_us INTEGER NOT NULL,
    done_us INTEGER,
    last_error TEXT,
    UNIQUE (event_key, channel)
);
CREATE INDEX notifications_due ON notifications (next_attempt_us) WHERE state = 'pending';
-- since_us: when notifications were first enabled; nothing older is announced.
CREATE TABLE notify_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
