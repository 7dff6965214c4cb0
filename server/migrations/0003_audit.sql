-- Supervisor actions (SPEC: every supervisor action is written to an audit
-- log, archived). One row per action; `key` is its archive stream entry, so
-- a retried write stores it once. Purged with the archive's retention.
CREATE TABLE IF NOT EXISTS supervisor_audit (
    key        text PRIMARY KEY,
    at         timestamptz NOT NULL,
    supervisor text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    detail     text NOT NULL
);
CREATE INDEX IF NOT EXISTS supervisor_audit_at ON supervisor_audit (at);
