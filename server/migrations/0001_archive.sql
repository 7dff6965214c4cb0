-- The archive of ended conversations and closed callback requests.
-- Times are timestamptz; the hub writes and reads them as Unix ms.
CREATE TABLE conversations (
    id              text PRIMARY KEY,
    kind            text NOT NULL DEFAULT 'chat',
    sub             text NOT NULL,
    cardholder_name text,
    card_tier       text NOT NULL,
    tier            text NOT NULL,
    topic           text NOT NULL,
    agent           text,
    agent_name      text,
    started_at      timestamptz NOT NULL,
    queued_at       timestamptz NOT NULL,
    ended_at        timestamptz NOT NULL,
    end_reason      text NOT NULL,
    transfers       jsonb NOT NULL DEFAULT '[]',
    callback_ref    text,
    rating          smallint CHECK (rating BETWEEN 1 AND 5),
    rating_comment  text,
    archived_at     timestamptz NOT NULL DEFAULT now()
);
-- History: a cardholder's conversations newest first, paged by (started_at, id).
CREATE INDEX conversations_history ON conversations (sub, started_at DESC, id DESC);
-- Retention purge.
CREATE INDEX conversations_ended ON conversations (ended_at);

CREATE TABLE transcript_entries (
    conversation text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq          integer NOT NULL,
    author       text NOT NULL,
    text         text NOT NULL,
    at           text NOT NULL,
    client_id    text,
    PRIMARY KEY (conversation, seq)
);

-- A reference is short enough to read out on the phone, so it may come
-- back years later: the request is keyed by reference and creation time.
CREATE TABLE callback_requests (
    ref          text NOT NULL,
    created_at   timestamptz NOT NULL,
    sub          text NOT NULL,
    desk         text NOT NULL,
    tier         text NOT NULL,
    conversation text NOT NULL,
    reason       text NOT NULL,
    status       text NOT NULL,
    attempts     integer NOT NULL,
    history      jsonb NOT NULL DEFAULT '[]',
    phone_last4  text,
    closed_at    timestamptz NOT NULL,
    PRIMARY KEY (ref, created_at)
);
CREATE INDEX callback_requests_sub ON callback_requests (sub, created_at);
CREATE INDEX callback_requests_closed ON callback_requests (closed_at);
