-- ARGV: prefix, now, conversation, seq
-- Announces the conversation's entries held back for replication
-- (`--redis-wait-replicas`) up to `seq`, in order; called once `WAIT` said
-- the replicas hold them. Those already announced are not sent again.
-- Reply: {}.
release(ARGV[3], tonumber(ARGV[4]))
return '{}'
