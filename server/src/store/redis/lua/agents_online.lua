-- ARGV: prefix, now, team
-- Reply: how many agents of the team have a connection open on a live node
-- (`online:<team>`, kept by `presence`, `register_agent` and the sweep of
-- dead nodes: see the prelude's `agent_online`).
return cjson.encode(redis.call('SCARD', k('online', ARGV[3])))
