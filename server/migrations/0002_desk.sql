-- The agent desk: internal notes (staff only) and when the cardholder rated
-- the conversation. `rating` and `rating_comment` exist since 0001; a rating
-- given after a conversation was archived updates its row (once).
ALTER TABLE conversations
    ADD COLUMN notes    jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN rated_at timestamptz;
-- Ratings by score and tier for reports.
CREATE INDEX conversations_rated ON conversations (rated_at) WHERE rating IS NOT NULL;
-- Callback requests: the cardholder's name and why, structured (`store::Cause`);
-- `history` now holds each call `{at, outcome, by, note}`.
ALTER TABLE callback_requests
    ADD COLUMN name  text,
    ADD COLUMN cause jsonb;
