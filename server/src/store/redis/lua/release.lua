-- ARGV: prefix, now, then pairs of conversation, seq
-- Announces each conversation's entries held back for replication
-- (`--redis-wait-replicas`) up to its seq, in order; called once `WAIT`
-- said the replicas hold them. Those already announced are not sent again.
-- Reply: nil.
for i = 3, #ARGV, 2 do
  release(ARGV[i], tonumber(ARGV[i + 1]))
end
