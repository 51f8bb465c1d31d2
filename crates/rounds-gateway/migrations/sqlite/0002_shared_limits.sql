-- State that several instances must share so that a limit holds across
-- them, not per instance: private_key_jwt assertion ids already used
-- (replay protection) and each client's rate-limit window. The twin is
-- ../postgres/0002_shared_limits.sql: keep both in step.

CREATE TABLE gateway_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    -- Unix milliseconds; the row may go once the assertion has expired.
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX gateway_assertions_expiry ON gateway_assertions (expires_at);

CREATE TABLE gateway_rate_windows (
    client_id    TEXT PRIMARY KEY,
    -- Unix milliseconds; the window lasts a minute from here.
    window_start BIGINT NOT NULL,
    -- Requests granted to instances in this window (instances take them in
    -- small leases, so this may run ahead of the requests answered).
    used         BIGINT NOT NULL
);
