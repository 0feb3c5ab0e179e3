-- People and their personal API tokens. Tokens are stored as SHA-256 digests
-- (they are 256-bit random, so a slow hash adds nothing); passwords use argon2.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL CHECK (role IN ('director', 'staff', 'auditor', 'admin')),
    password_hash TEXT,
    created_us    INTEGER NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    digest      TEXT    NOT NULL UNIQUE,
    created_us  INTEGER NOT NULL,
    revoked_us  INTEGER
);
