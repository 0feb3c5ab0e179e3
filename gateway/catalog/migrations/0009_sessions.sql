-- Web sign-in sessions (issue 12). Only a SHA-256 digest of the session id is
-- kept (the id is 256-bit random and lives in the browser's cookie), so a copy
-- of the catalog cannot be replayed as a cookie. Rows end at logout, at the
-- idle or absolute timeout, and when the user's password is reset.

CREATE TABLE sessions (
    digest       TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf         TEXT    NOT NULL,
    created_us   INTEGER NOT NULL,
    last_seen_us INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
