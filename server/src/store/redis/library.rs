//! The store's Lua steps as one Redis function library (`FUNCTION LOAD`,
//! Redis 7), called with `FCALL`.
//!
//! Each step is a script body in `lua/<step>.lua`; every body shares the
//! helpers of `lua/prelude.lua`. As a library, the prelude runs once, when
//! Redis loads it, rather than at every call as it would with `EVALSHA`
//! (defining its ~40 helper closures cost about 2 µs of Redis's single
//! thread per call, 10–15 % of a message's append). Each registered
//! function sets the call's key prefix, time and arguments (the prelude's
//! `P`, `NOW`, `NOW_S` and `ARGS`), runs its body unchanged (as the local
//! function `step_<name>`, which another step may run too), and then
//! publishes what the body announced (the prelude's `flush`: one message per
//! node channel).
//!
//! The library's and its functions' names carry a hash of the code, so
//! nodes of different versions sharing one Redis each call their own; a
//! Redis that does not know them (restarted, flushed, a replica just
//! promoted before the library replicated) gets the library loaded again
//! on the first call that misses it.

use std::fmt::Write as _;

use redis::aio::ConnectionLike;
use redis::{Cmd, FromRedisValue, RedisError, RedisResult};
use sha2::{Digest, Sha256};

use crate::domain::Millis;

/// The library: its code and the names of its functions.
#[derive(Debug)]
pub(super) struct Library {
    code: String,
    tag: String,
}

/// One step of the library, as called with `FCALL`.
#[derive(Debug, Clone)]
pub(super) struct Function {
    name: String,
}

impl Library {
    /// Builds the library from the prelude and the steps' bodies (`(name,
    /// body)`); the functions are named `sb_<hash>_<name>`.
    pub(super) fn new(prelude: &str, steps: &[(&str, &str)]) -> Self {
        let mut h = Sha256::new();
        h.update(prelude.as_bytes());
        for (name, body) in steps {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(body.as_bytes());
            h.update([0]);
        }
        let tag = format!("sb_{}", hex::encode(&h.finalize()[..6]));
        let mut code = format!("#!lua name={tag}\n{prelude}\n");
        // Each body as a local function `step_<name>(ARGV)` (a step may run
        // an earlier one: `append_batch` runs `step_append` per message),
        // then each registered: set the call's context, run, publish.
        // Writing to a String cannot fail.
        for (name, body) in steps {
            let _ = write!(code, "local function step_{name}(ARGV)\n{body}\nend\n");
        }
        for (name, _) in steps {
            let _ = write!(
                code,
                "redis.register_function('{tag}_{name}', function(KEYS, ARGV)\n\
                 P, NOW, NOW_S, ARGS = ARGV[1], tonumber(ARGV[2]), ARGV[2], ARGV\n\
                 new_step()\n\
                 local reply = step_{name}(ARGV)\n\
                 flush()\n\
                 return reply\n\
                 end)\n"
            );
        }
        Library { code, tag }
    }

    /// The step called `name` (as given to [`Library::new`]).
    pub(super) fn function(&self, name: &str) -> Function {
        Function {
            name: format!("{}_{name}", self.tag),
        }
    }

    /// Runs `invocation` (from [`Function::invocation`]), loading the
    /// library first if Redis does not have it.
    pub(super) async fn query<T, C>(&self, conn: &mut C, invocation: &Cmd) -> RedisResult<T>
    where
        T: FromRedisValue,
        C: ConnectionLike + Send,
    {
        match invocation.query_async(conn).await {
            Err(e) if missing(&e) => {
                redis::cmd("FUNCTION")
                    .arg("LOAD")
                    .arg("REPLACE")
                    .arg(&self.code)
                    .query_async::<()>(conn)
                    .await?;
                invocation.query_async(conn).await
            }
            reply => reply,
        }
    }
}

impl Function {
    /// `FCALL <function> 0 <prefix> <now>`: the key prefix and the time of
    /// the call, which every step takes first; the caller adds the step's
    /// own arguments.
    pub(super) fn invocation(&self, prefix: &str, now: Millis) -> Cmd {
        let mut cmd = redis::cmd("FCALL");
        cmd.arg(&self.name).arg(0).arg(prefix).arg(now);
        cmd
    }

    /// `FCALL <function> 0 <prefix> ''`: a step that only reads, and so is
    /// given no time (its `NOW` is nil).
    pub(super) fn read_invocation(&self, prefix: &str) -> Cmd {
        let mut cmd = redis::cmd("FCALL");
        cmd.arg(&self.name).arg(0).arg(prefix).arg("");
        cmd
    }
}

/// Whether Redis answered that it has no such function.
fn missing(e: &RedisError) -> bool {
    e.to_string().contains("Function not found")
}
