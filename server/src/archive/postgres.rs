//! The PostgreSQL archive (`--archive-url`): tokio-postgres behind a small
//! deadpool pool. Every write is one transaction keyed by the record's own
//! id, `ON CONFLICT DO NOTHING`, so an archiver that committed and died
//! before acknowledging, and the node that takes its entry over, store the
//! conversation once. Migrations (`server/migrations/*.sql`, embedded) run
//! at start-up under an advisory lock, so nodes starting together apply
//! each exactly once.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, Row};

use super::{
    Archive, ArchiveError, ArchiveResult, Export, ExportedCallback, ExportedConversation,
    PURGE_BATCH,
};
use crate::domain::archive::{ArchivedCallback, ArchivedConversation};
use crate::domain::callback::CallbackRequest;
use crate::domain::conversation::{Conversation, Entry, Rating, Summary, Transfer};
use crate::domain::{Author, CallbackRef, ConversationId, ConversationStatus, Millis, Seq, UserId};

/// The schema, in order; each applied once (`switchboard_migrations`).
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "archive",
        include_str!("../../migrations/0001_archive.sql"),
    ),
    (2, "desk", include_str!("../../migrations/0002_desk.sql")),
    (3, "audit", include_str!("../../migrations/0003_audit.sql")),
];

/// Key of the advisory lock that serialises migrations across nodes.
const MIGRATION_LOCK: i64 = 0x5357_4254_4152_4348;

/// How long one archive call may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections each node keeps to the archive at most.
pub const POOL_SIZE: usize = 4;

/// A ms time as SQL reads it from a bigint parameter.
const TS: &str = "to_timestamp($1::bigint / 1000.0)";

/// The PostgreSQL archive; cheap to clone.
#[derive(Clone)]
pub struct PgArchive {
    pool: Pool,
}

impl std::fmt::Debug for PgArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgArchive").finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Unavailable(e.to_string())
}

/// A database error with PostgreSQL's own message (tokio-postgres says only "db error").
fn db(e: tokio_postgres::Error) -> ArchiveError {
    match e.as_db_error() {
        Some(d) => ArchiveError::Unavailable(format!("{}: {}", d.code().code(), d.message())),
        None => unavailable(e),
    }
}

/// Runs one archive call with [`CALL_TIMEOUT`].
async fn bounded<T>(call: impl std::future::Future<Output = ArchiveResult<T>>) -> ArchiveResult<T> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| Err(unavailable("the archive did not answer in time")))
}

impl PgArchive {
    /// A pool for `url` (`postgres://user[:password]@host[:port]/db`);
    /// connects lazily, so a database that is down does not stop start-up.
    pub fn new(url: &str) -> ArchiveResult<PgArchive> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| unavailable(format!("--archive-url is not a PostgreSQL URL: {e}")))?;
        config.connect_timeout(Duration::from_secs(3));
        config.application_name("switchboard");
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(2)))
            .build()
            .map_err(unavailable)?;
        Ok(PgArchive { pool })
    }

    async fn client(&self) -> ArchiveResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(unavailable)
    }

    /// Applies the migrations not applied yet.
    pub async fn migrate(&self) -> ArchiveResult<()> {
        bounded(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(db)?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS switchboard_migrations (
                     version integer PRIMARY KEY,
                     name text NOT NULL,
                     applied_at timestamptz NOT NULL DEFAULT now())",
            )
            .await
            .map_err(db)?;
            let applied: Vec<i32> = tx
                .query("SELECT version FROM switchboard_migrations", &[])
                .await
                .map_err(db)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            for (version, name, sql) in MIGRATIONS {
                if applied.contains(version) {
                    continue;
                }
                tx.batch_execute(sql).await.map_err(db)?;
                tx.execute(
                    "INSERT INTO switchboard_migrations (version, name) VALUES ($1, $2)",
                    &[version, name],
                )
                .await
                .map_err(db)?;
                tracing::info!(version, name, "archive migration applied");
            }
            tx.commit().await.map_err(db)
        })
        .await
    }
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn parsed<T: std::str::FromStr>(row: &Row, column: &str) -> ArchiveResult<T> {
    let text: String = row.try_get(column).map_err(unavailable)?;
    text.parse()
        .map_err(|_| unavailable(format!("archived `{column}` `{text}` is not known")))
}

fn summary(row: &Row) -> ArchiveResult<Summary> {
    Ok(Summary {
        id: ConversationId(row.try_get("id").map_err(unavailable)?),
        kind: parsed(row, "kind")?,
        tier: parsed(row, "tier")?,
        topic: parsed(row, "topic")?,
        started_at: row.try_get("started_ms").map_err(unavailable)?,
        ended_at: row.try_get("ended_ms").map_err(unavailable)?,
        end_reason: parsed(row, "end_reason")?,
        agent_name: row.try_get("agent_name").map_err(unavailable)?,
    })
}

fn entry(row: &Row) -> ArchiveResult<Entry> {
    let seq: i32 = row.try_get("seq").map_err(unavailable)?;
    Ok(Entry {
        seq: Seq::try_from(seq).unwrap_or(0),
        from: parsed::<Author>(row, "author")?,
        text: row.try_get("text").map_err(unavailable)?,
        at: row.try_get("at").map_err(unavailable)?,
        id: row.try_get("client_id").map_err(unavailable)?,
    })
}

const SUMMARY_COLUMNS: &str = "id, kind, tier, topic, agent_name, end_reason, \
     (extract(epoch FROM started_at) * 1000)::bigint AS started_ms, \
     (extract(epoch FROM ended_at) * 1000)::bigint AS ended_ms";

#[async_trait]
impl Archive for PgArchive {
    async fn put_conversation(&self, a: &ArchivedConversation) -> ArchiveResult<()> {
        let c = &a.conversation;
        let ended_at = c.ended_at.unwrap_or(c.created_at);
        let end_reason = c.end_reason.map(|r| r.to_string()).unwrap_or_default();
        let rating = c.rating.as_ref();
        bounded(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db)?;
            // A chat is stored once: a second hand-over (it was rated after
            // archiving) only adds the rating the row lacks. A thread
            // resolved again after a reopen gets its latest end, transfers
            // and notes, and the entries it did not have yet.
            let inserted = tx
                .execute(
                    &format!(
                        "INSERT INTO conversations (id, sub, cardholder_name, card_tier, tier, topic, \
                         agent, agent_name, started_at, queued_at, ended_at, end_reason, transfers, \
                         callback_ref, kind, notes, rating, rating_comment, rated_at) VALUES ($2, $3, \
                         $4, $5, $6, $7, $8, $9, {TS}, to_timestamp($10::bigint / 1000.0), \
                         to_timestamp($11::bigint / 1000.0), $12, $13, $14, $15, $16, $17, $18, \
                         to_timestamp($19::bigint / 1000.0)) ON CONFLICT (id) DO UPDATE SET \
                         ended_at = CASE WHEN conversations.kind = 'message' THEN EXCLUDED.ended_at ELSE conversations.ended_at END, \
                         end_reason = CASE WHEN conversations.kind = 'message' THEN EXCLUDED.end_reason ELSE conversations.end_reason END, \
                         agent = CASE WHEN conversations.kind = 'message' THEN EXCLUDED.agent ELSE conversations.agent END, \
                         agent_name = CASE WHEN conversations.kind = 'message' THEN EXCLUDED.agent_name ELSE conversations.agent_name END, \
                         transfers = CASE WHEN conversations.kind = 'message' THEN EXCLUDED.transfers ELSE conversations.transfers END, \
                         notes = CASE WHEN conversations.kind = 'message' THEN EXCLUDED.notes ELSE conversations.notes END, \
                         rating = COALESCE(conversations.rating, EXCLUDED.rating), \
                         rating_comment = CASE WHEN conversations.rating IS NULL THEN EXCLUDED.rating_comment ELSE conversations.rating_comment END, \
                         rated_at = CASE WHEN conversations.rating IS NULL THEN EXCLUDED.rated_at ELSE conversations.rated_at END \
                         WHERE conversations.kind = 'message' \
                            OR (conversations.rating IS NULL AND EXCLUDED.rating IS NOT NULL)"
                    ),
                    &[
                        &c.created_at,
                        &c.id.as_str(),
                        &c.cardholder.as_str(),
                        &c.cardholder_name,
                        &c.card_tier.to_string(),
                        &c.tier.to_string(),
                        &c.topic.to_string(),
                        &c.agent.as_ref().map(UserId::as_str),
                        &c.agent_name,
                        &c.queued_at,
                        &ended_at,
                        &end_reason,
                        &json(&c.transfers),
                        &a.callback.as_ref().map(CallbackRef::as_str),
                        &c.kind.as_str(),
                        &json(&c.notes),
                        &rating.map(|r| i16::from(r.score)),
                        &rating.and_then(|r| r.comment.as_deref()),
                        &rating.map(|r| r.at),
                    ],
                )
                .await
                .map_err(db)?;
            if inserted == 1 && !a.entries.is_empty() {
                // The whole transcript in one statement.
                let mut seqs = Vec::with_capacity(a.entries.len());
                let (mut authors, mut texts, mut ats, mut ids) = (
                    Vec::with_capacity(a.entries.len()),
                    Vec::with_capacity(a.entries.len()),
                    Vec::with_capacity(a.entries.len()),
                    Vec::with_capacity(a.entries.len()),
                );
                for e in &a.entries {
                    seqs.push(i32::try_from(e.seq).map_err(unavailable)?);
                    authors.push(e.from.as_str());
                    texts.push(e.text.as_str());
                    ats.push(e.at.as_str());
                    ids.push(e.id.as_deref());
                }
                tx.execute(
                    "INSERT INTO transcript_entries (conversation, seq, author, text, at, client_id) \
                     SELECT $1, * FROM unnest($2::integer[], $3::text[], $4::text[], $5::text[], $6::text[]) \
                     ON CONFLICT DO NOTHING",
                    &[&c.id.as_str(), &seqs, &authors, &texts, &ats, &ids],
                )
                .await
                .map_err(db)?;
            }
            tx.commit().await.map_err(db)
        })
        .await
    }

    async fn put_audit(
        &self,
        key: &str,
        e: &crate::domain::audit::AuditEntry,
    ) -> ArchiveResult<()> {
        bounded(async {
            let client = self.client().await?;
            client
                .execute(
                    &format!(
                        "INSERT INTO supervisor_audit (key, at, supervisor, action, target, detail) \
                         VALUES ($2, {TS}, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
                    ),
                    &[&e.at, &key, &e.by.as_str(), &e.action, &e.target, &e.detail],
                )
                .await
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn put_callback(&self, a: &ArchivedCallback) -> ArchiveResult<()> {
        let r = &a.request;
        bounded(async {
            let client = self.client().await?;
            client
                .execute(
                    &format!(
                        "INSERT INTO callback_requests (ref, created_at, sub, desk, tier, conversation, \
                         reason, status, attempts, history, phone_last4, closed_at, name, cause) \
                         VALUES ($2, {TS}, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
                         to_timestamp($12::bigint / 1000.0), $13, $14) ON CONFLICT DO NOTHING"
                    ),
                    &[
                        &r.created_at,
                        &r.reference.as_str(),
                        &r.sub.as_str(),
                        &r.desk.to_string(),
                        &r.tier.to_string(),
                        &r.conversation.as_str(),
                        &r.reason,
                        &r.status.to_string(),
                        &i32::try_from(r.attempts).unwrap_or(i32::MAX),
                        &json(&r.history),
                        &r.phone_last4,
                        &a.closed_at,
                        &r.name,
                        &r.cause.as_ref().map(json),
                    ],
                )
                .await
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn history(
        &self,
        sub: &UserId,
        before: Option<&ConversationId>,
        limit: usize,
    ) -> ArchiveResult<Vec<Summary>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        bounded(async {
            let client = self.client().await?;
            let rows = match before {
                None => {
                    client
                        .query(
                            &format!(
                                "SELECT {SUMMARY_COLUMNS} FROM conversations WHERE sub = $1 \
                             ORDER BY started_at DESC, id DESC LIMIT $2"
                            ),
                            &[&sub.as_str(), &limit],
                        )
                        .await
                }
                Some(before) => {
                    client
                        .query(
                            &format!(
                                "SELECT {SUMMARY_COLUMNS} FROM conversations WHERE sub = $1 \
                             AND (started_at, id) < (SELECT started_at, id FROM conversations \
                             WHERE id = $3 AND sub = $1) \
                             ORDER BY started_at DESC, id DESC LIMIT $2"
                            ),
                            &[&sub.as_str(), &limit, &before.as_str()],
                        )
                        .await
                }
            }
            .map_err(unavailable)?;
            rows.iter().map(summary).collect()
        })
        .await
    }

    async fn owner(&self, id: &ConversationId) -> ArchiveResult<Option<UserId>> {
        bounded(async {
            let client = self.client().await?;
            let row = client
                .query_opt(
                    "SELECT sub FROM conversations WHERE id = $1",
                    &[&id.as_str()],
                )
                .await
                .map_err(db)?;
            Ok(row.map(|r| UserId(r.get(0))))
        })
        .await
    }

    async fn transcript(
        &self,
        id: &ConversationId,
        after: Seq,
        limit: usize,
    ) -> ArchiveResult<Vec<Entry>> {
        let after = i32::try_from(after).unwrap_or(i32::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        bounded(async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT seq, author, text, at, client_id FROM transcript_entries \
                     WHERE conversation = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                    &[&id.as_str(), &after, &limit],
                )
                .await
                .map_err(db)?;
            rows.iter().map(entry).collect()
        })
        .await
    }

    async fn export(&self, sub: &UserId) -> ArchiveResult<Export> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, sub, kind, cardholder_name, card_tier, tier, topic, agent, agent_name, \
                 end_reason, transfers, callback_ref, notes, rating, rating_comment, \
                 (extract(epoch FROM rated_at) * 1000)::bigint AS rated_ms, \
                 (extract(epoch FROM started_at) * 1000)::bigint AS started_ms, \
                 (extract(epoch FROM queued_at) * 1000)::bigint AS queued_ms, \
                 (extract(epoch FROM ended_at) * 1000)::bigint AS ended_ms \
                 FROM conversations WHERE sub = $1 ORDER BY started_at, id",
                &[&sub.as_str()],
            )
            .await
            .map_err(db)?;
        let mut conversations = Vec::with_capacity(rows.len());
        for row in &rows {
            let id = ConversationId(row.try_get("id").map_err(unavailable)?);
            let entries = client
                .query(
                    "SELECT seq, author, text, at, client_id FROM transcript_entries \
                     WHERE conversation = $1 ORDER BY seq",
                    &[&id.as_str()],
                )
                .await
                .map_err(db)?
                .iter()
                .map(entry)
                .collect::<ArchiveResult<Vec<_>>>()?;
            let transfers: serde_json::Value = row.try_get("transfers").map_err(unavailable)?;
            let notes: serde_json::Value = row.try_get("notes").map_err(unavailable)?;
            let score: Option<i16> = row.try_get("rating").map_err(unavailable)?;
            let rated_at: Option<Millis> = row.try_get("rated_ms").map_err(unavailable)?;
            let rating = score.map(|score| Rating {
                score: u8::try_from(score).unwrap_or(0),
                comment: row.try_get("rating_comment").unwrap_or_default(),
                at: rated_at.unwrap_or(0),
            });
            let archived = ArchivedConversation {
                conversation: Conversation {
                    id,
                    cardholder: sub.clone(),
                    cardholder_name: row.try_get("cardholder_name").map_err(unavailable)?,
                    card_tier: parsed(row, "card_tier")?,
                    tier: parsed(row, "tier")?,
                    topic: parsed(row, "topic")?,
                    status: ConversationStatus::Ended,
                    agent: row
                        .try_get::<_, Option<String>>("agent")
                        .map_err(unavailable)?
                        .map(UserId),
                    agent_name: row.try_get("agent_name").map_err(unavailable)?,
                    created_at: row.try_get("started_ms").map_err(unavailable)?,
                    queued_at: row.try_get("queued_ms").map_err(unavailable)?,
                    last_seq: entries.last().map(|e| e.seq).unwrap_or(0),
                    phone_last4: None,
                    ended_at: Some(row.try_get("ended_ms").map_err(unavailable)?),
                    end_reason: Some(parsed(row, "end_reason")?),
                    history: Vec::new(),
                    kind: parsed(row, "kind")?,
                    last_at: None,
                    read_seq: 0,
                    transfers: serde_json::from_value::<Vec<Transfer>>(transfers)
                        .unwrap_or_default(),
                    notes: serde_json::from_value(notes).unwrap_or_default(),
                    rating,
                },
                callback: row
                    .try_get::<_, Option<String>>("callback_ref")
                    .map_err(unavailable)?
                    .map(CallbackRef),
                entries,
            };
            conversations.push(ExportedConversation::of(archived));
        }
        let rows = client
            .query(
                "SELECT ref, desk, tier, conversation, reason, status, attempts, history, phone_last4, \
                 name, cause, \
                 (extract(epoch FROM created_at) * 1000)::bigint AS created_ms, \
                 (extract(epoch FROM closed_at) * 1000)::bigint AS closed_ms \
                 FROM callback_requests WHERE sub = $1 ORDER BY created_at, ref",
                &[&sub.as_str()],
            )
            .await
            .map_err(db)?;
        let mut callbacks = Vec::with_capacity(rows.len());
        for row in &rows {
            let history: serde_json::Value = row.try_get("history").map_err(unavailable)?;
            let attempts: i32 = row.try_get("attempts").map_err(unavailable)?;
            callbacks.push(ExportedCallback::of(ArchivedCallback {
                request: CallbackRequest {
                    reference: CallbackRef(row.try_get("ref").map_err(unavailable)?),
                    desk: parsed(row, "desk")?,
                    sub: sub.clone(),
                    name: row.try_get("name").map_err(unavailable)?,
                    tier: parsed(row, "tier")?,
                    reason: row.try_get("reason").map_err(unavailable)?,
                    cause: row
                        .try_get::<_, Option<serde_json::Value>>("cause")
                        .map_err(unavailable)?
                        .and_then(|c| serde_json::from_value(c).ok()),
                    conversation: ConversationId(row.try_get("conversation").map_err(unavailable)?),
                    created_at: row.try_get("created_ms").map_err(unavailable)?,
                    status: parsed(row, "status")?,
                    attempts: u32::try_from(attempts).unwrap_or(0),
                    claimed_by: None,
                    phone_last4: row.try_get("phone_last4").map_err(unavailable)?,
                    history: serde_json::from_value(history).unwrap_or_default(),
                },
                closed_at: row.try_get("closed_ms").map_err(unavailable)?,
            }));
        }
        Ok(Export {
            sub: sub.clone(),
            conversations,
            callbacks,
        })
    }

    async fn purge(&self, cutoff: Millis) -> ArchiveResult<u64> {
        let mut total = 0;
        for table in [
            ("conversations", "id"),
            ("callback_requests", "ref, created_at"),
            ("supervisor_audit", "key"),
        ] {
            let (table, key) = table;
            loop {
                // One bounded batch per statement; SKIP LOCKED lets several
                // nodes purge at once without waiting on each other.
                let deleted = bounded(async {
                    let client = self.client().await?;
                    client
                        .execute(
                            &format!(
                                "DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} \
                                 WHERE {end} < to_timestamp($1::bigint / 1000.0) LIMIT $2 \
                                 FOR UPDATE SKIP LOCKED)",
                                end = match table {
                                    "conversations" => "ended_at",
                                    "supervisor_audit" => "at",
                                    _ => "closed_at",
                                }
                            ),
                            &[&cutoff, &PURGE_BATCH],
                        )
                        .await
                        .map_err(db)
                })
                .await?;
                total += deleted;
                if deleted < u64::try_from(PURGE_BATCH).unwrap_or(u64::MAX) {
                    break;
                }
            }
        }
        Ok(total)
    }
}
