//! The Redis engine's routing and live chats: opening, routing, ending, transferring, agents, queues.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Chats for RedisStore {
    async fn open_conversation(&self, new: NewConversation) -> StoreResult<Opened> {
        let id = ConversationId::generate();
        let ranks = QueueRanks::new(
            queue_score(new.now, self.tiebreak.fetch_add(1, Ordering::Relaxed)),
            &new.boosts,
        );
        let reply = self
            .run(
                &self.scripts.open,
                new.now,
                argv![
                    keys::encode(&new.cardholder),
                    new.name.as_deref().unwrap_or(""),
                    new.tier,
                    new.topic,
                    if new.enqueue { "1" } else { "0" },
                    id,
                    new.phone_last4.as_deref().unwrap_or(""),
                    ranks.waiting(new.tier),
                    ranks.to_json(),
                    replies::encode_history(&new.history)?
                ],
            )
            .await?;
        let r: OpenReply = decode(&reply, "open")?;
        Ok(Opened {
            conversation: replies::conversation(&r.conversation)?,
            created: r.created,
        })
    }

    async fn conversation(&self, id: &ConversationId) -> StoreResult<Option<Conversation>> {
        let mut conn = self.conn();
        let flat: Vec<String> = redis::cmd("HGETALL")
            .arg(self.key(&["conv", id.as_str()]))
            .query_async(&mut conn)
            .await?;
        let fields = Fields::from_flat(flat);
        if fields.is_empty() {
            return Ok(None);
        }
        replies::conversation(&fields).map(Some)
    }

    async fn open_conversation_of(&self, cardholder: &UserId) -> StoreResult<Option<Conversation>> {
        let mut conn = self.conn();
        let id: Option<String> = redis::cmd("GET")
            .arg(self.key(&["open", &keys::encode(cardholder)]))
            .query_async(&mut conn)
            .await?;
        match id {
            Some(id) => Ok(self
                .conversation(&ConversationId(id))
                .await?
                .filter(|c| c.status != ConversationStatus::Ended)),
            None => Ok(None),
        }
    }

    async fn end(
        &self,
        id: &ConversationId,
        by_agent: Option<&UserId>,
        reason: EndReason,
        now: Millis,
    ) -> StoreResult<Option<Conversation>> {
        let by = by_agent.map(keys::encode).unwrap_or_default();
        let reply = self
            .run(
                &self.scripts.end,
                now,
                argv![id, by, reason, self.hand_over()],
            )
            .await?;
        let r: EndReply = decode(&reply, "end")?;
        match (r.found, r.ended) {
            (false, _) => Err(StoreError::NoConversation),
            (true, false) => Ok(None),
            (true, true) => replies::conversation(&r.conversation).map(Some),
        }
    }

    async fn transfer(
        &self,
        id: &ConversationId,
        agent: &UserId,
        tier: Tier,
        note: Option<String>,
        now: Millis,
    ) -> StoreResult<Conversation> {
        let reply = self
            .run(
                &self.scripts.transfer,
                now,
                [
                    argv![
                        id,
                        keys::encode(agent),
                        tier,
                        EndReason::Transferred,
                        note.unwrap_or_default()
                    ],
                    self.inbox_ranks(now),
                ]
                .concat(),
            )
            .await?;
        done_or_missing(decode(&reply, "transfer")?)
    }

    async fn rate(
        &self,
        id: &ConversationId,
        cardholder: &UserId,
        rating: Rating,
    ) -> StoreResult<Conversation> {
        let json = replies::encode_json(&rating, "rating")?;
        let reply = self
            .run(
                &self.scripts.rate,
                rating.at,
                argv![id, keys::encode(cardholder), json, self.hand_over()],
            )
            .await?;
        let r: OutcomeReply = decode(&reply, "rate")?;
        match r.outcome.as_str() {
            "rated" => replies::conversation(&r.conversation),
            "not_allowed" => Err(StoreError::NotAllowed),
            _ => Err(StoreError::NoConversation),
        }
    }

    async fn add_note(&self, id: &ConversationId, note: Note) -> StoreResult<Conversation> {
        let json = replies::encode_json(&note, "note")?;
        let by = keys::encode(&note.by);
        let at = note.at;
        let event = replies::encode_json(
            &Event::Note {
                conversation: id.clone(),
                note,
            },
            "a note event",
        )?;
        let reply = self
            .run(
                &self.scripts.note,
                at,
                argv![id, by, json, MAX_NOTES, event],
            )
            .await?;
        let r: OutcomeReply = decode(&reply, "note")?;
        match r.outcome.as_str() {
            "noted" => replies::conversation(&r.conversation),
            "full" => Err(StoreError::NotAllowed),
            _ => Err(StoreError::NoConversation),
        }
    }

    async fn register_agent(
        &self,
        profile: &AgentProfile,
        now: Millis,
    ) -> StoreResult<AgentSnapshot> {
        let teams = profile
            .teams
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let reply = self
            .run(
                &self.scripts.register_agent,
                now,
                argv![
                    keys::encode(&profile.sub),
                    profile.name,
                    teams,
                    profile.max_chats,
                    AvailabilityScores::at(now).to_field()
                ],
            )
            .await?;
        let r: AgentReply = decode(&reply, "register agent")?;
        Ok(AgentSnapshot {
            state: r
                .state
                .parse()
                .map_err(|_| replies::corrupt("agent state"))?,
            active: r
                .conversations
                .iter()
                .map(replies::conversation)
                .collect::<StoreResult<_>>()?,
            presence: r.presence,
        })
    }

    async fn set_agent_state(
        &self,
        agent: &UserId,
        state: AgentState,
        now: Millis,
    ) -> StoreResult<()> {
        let reply = self
            .run(
                &self.scripts.set_state,
                now,
                argv![
                    keys::encode(agent),
                    state,
                    AvailabilityScores::at(now).to_field()
                ],
            )
            .await?;
        let r: OkReply = decode(&reply, "set state")?;
        if !r.ok {
            return Err(StoreError::NotAllowed);
        }
        Ok(())
    }

    async fn route(&self, now: Millis) -> StoreResult<Vec<Assignment>> {
        let mut args = argv![
            ROUTE_BATCH,
            RECENT_WAITS,
            MAX_TRANSCRIPT_PAGE,
            AvailabilityScores::at(now).to_field()
        ];
        for &tier in Tier::ALL {
            args.push(tier.to_string());
        }
        let reply = self.run(&self.scripts.route, now, args).await?;
        let items: Vec<RouteItem> = replies::decode_list(&reply, "route")?;
        items
            .iter()
            .map(|i| {
                Ok(Assignment {
                    conversation: replies::conversation(&i.conversation)?,
                    waited_ms: i.waited_ms,
                })
            })
            .collect()
    }

    async fn queue_standing(
        &self,
        id: &ConversationId,
        tier: Tier,
    ) -> StoreResult<Option<QueueStanding>> {
        let reply = self
            .run_read(&self.scripts.queue_place, argv![tier, id])
            .await?;
        let r: PlaceReply = decode(&reply, "queue place")?;
        if r.position == 0 {
            return Ok(None);
        }
        Ok(Some(QueueStanding {
            position: r.position,
            depth: r.depth,
            recent_wait_ms: average_wait(&replies::waits(&r.waits)),
        }))
    }

    async fn queue_snapshot(&self, tier: Tier) -> StoreResult<QueueSnapshot> {
        let reply = self
            .run_read(&self.scripts.queue_snapshot, argv![tier])
            .await?;
        let r: SnapshotReply = decode(&reply, "queue snapshot")?;
        Ok(QueueSnapshot {
            places: r
                .places
                .iter()
                .enumerate()
                .map(|(i, p)| QueuePlace {
                    conversation: ConversationId(p.conversation.clone()),
                    cardholder: replies::user(&p.cardholder),
                    position: i as u64 + 1,
                    queued_at: p.queued_at,
                })
                .collect(),
            recent_wait_ms: average_wait(&replies::waits(&r.waits)),
        })
    }

    async fn agents_online(&self, team: Team) -> StoreResult<u64> {
        let reply = self
            .run_read(&self.scripts.agents_online, argv![team.as_str()])
            .await?;
        decode(&reply, "agents online")
    }

    async fn queue_stats(&self, now: Millis) -> StoreResult<Vec<QueueView>> {
        let tiers = Tier::ALL.iter().map(ToString::to_string).collect();
        let reply = self.run(&self.scripts.queue_stats, now, tiers).await?;
        let rows: Vec<StatsItem> = replies::decode_list(&reply, "queue stats")?;
        rows.iter()
            .map(|row| {
                let oldest_wait_s = row
                    .since
                    .parse::<Millis>()
                    .map_or(0, |t| u64::try_from((now - t).max(0) / 1000).unwrap_or(0));
                Ok(QueueView {
                    tier: row
                        .tier
                        .parse()
                        .map_err(|_| replies::corrupt("queue stats tier"))?,
                    waiting: row.depth,
                    oldest_wait_s,
                })
            })
            .collect()
    }
}
