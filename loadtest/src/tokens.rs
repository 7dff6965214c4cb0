//! Who the simulated users are, and the JWTs they present.
//!
//! Either every identity is minted here from `--jwt-secret` (HS256, the claims
//! SPEC lists), or read from `--tokens FILE` (one JWT a line; the role, `sub`,
//! `tier`, `teams` and `max_chats` are read back from each token's payload
//! without verifying it: the hub does that).
//!
//! Signing is the hub library's (`switchboard::auth::mint_hs256`), so the
//! tokens are exactly what the hub's verifier expects.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value};
use switchboard::domain::{Role, Team, Tier};

use crate::config::{Config, TierMix};

/// Why tokens could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Signing failed.
    #[error("cannot sign a token: {0}")]
    Sign(String),
    /// The tokens file could not be read.
    #[error("cannot read tokens file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line of the tokens file is not a JWT we understand.
    #[error("tokens file line {line}: {why}")]
    Bad {
        /// 1-based line number.
        line: usize,
        /// What is wrong (never the token itself).
        why: String,
    },
    /// The file holds fewer tokens of a role than the run needs.
    #[error("the tokens file has {have} {role} tokens, the run needs {need}")]
    TooFew {
        /// `cardholder` or `agent`.
        role: &'static str,
        /// Tokens found.
        have: usize,
        /// Tokens needed.
        need: usize,
    },
}

/// One simulated user: what the hub will know about it, and its token.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Cardholder or agent.
    pub role: Role,
    /// The token's `sub`.
    pub sub: String,
    /// Cardholders: the card tier.
    pub tier: Option<Tier>,
    /// Agents: the teams served.
    pub teams: Vec<Team>,
    /// Agents: concurrent chat limit (SPEC default 3).
    pub max_chats: u32,
    /// The JWT presented as `Authorization: Bearer`.
    pub token: String,
}

/// The simulated population.
#[derive(Debug, Clone, Default)]
pub struct Population {
    /// One per simulated cardholder.
    pub cardholders: Vec<Identity>,
    /// One per simulated agent.
    pub agents: Vec<Identity>,
}

/// Signs `claims` as an HS256 JWT with the hub library's own minting.
pub fn mint_hs256(secret: &[u8], claims: &Value) -> Result<String, TokenError> {
    switchboard::auth::mint_hs256(secret, claims).map_err(|e| TokenError::Sign(e.to_string()))
}

/// Builds the population the config asks for.
pub fn population(config: &Config, run_tag: &str) -> Result<Population, TokenError> {
    match &config.tokens_file {
        Some(path) => from_file(path, config.cardholders, config.agents),
        None => {
            let secret = config.jwt_secret.as_deref().unwrap_or_default();
            // Tokens outlive the run by an hour so none expires mid-run.
            let lifetime = config.duration + config.grace + Duration::from_secs(3600);
            mint_population(config, secret.as_bytes(), run_tag, lifetime)
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Mints cardholders with the configured tier mix and agents whose teams
/// cover every tier that has cardholders.
pub fn mint_population(
    config: &Config,
    secret: &[u8],
    run_tag: &str,
    lifetime: Duration,
) -> Result<Population, TokenError> {
    let exp = unix_now() + lifetime.as_secs();
    let tiers = config.tiers.sequence(config.cardholders);
    let mut cardholders = Vec::with_capacity(config.cardholders);
    for (i, tier) in tiers.into_iter().enumerate() {
        let sub = format!("lt-{run_tag}-ch{i}");
        let claims = json!({
            "sub": sub, "role": "cardholder", "tier": tier.as_str(),
            "name": format!("Load Cardholder {i}"), "exp": exp,
        });
        cardholders.push(Identity {
            role: Role::Cardholder,
            sub,
            tier: Some(tier),
            teams: Vec::new(),
            max_chats: 0,
            token: mint_hs256(secret, &claims)?,
        });
    }
    let teams = agent_teams(&config.tiers, config.agents);
    let mut agents = Vec::with_capacity(config.agents);
    for (i, teams) in teams.into_iter().enumerate() {
        let sub = format!("lt-{run_tag}-ag{i}");
        let names: Vec<&str> = teams.iter().map(|t| t.as_str()).collect();
        let claims = json!({
            "sub": sub, "role": "agent", "teams": names, "max_chats": config.max_chats,
            "name": format!("Load Agent {i}"), "exp": exp,
        });
        agents.push(Identity {
            role: Role::Agent,
            sub,
            tier: None,
            teams,
            max_chats: config.max_chats,
            token: mint_hs256(secret, &claims)?,
        });
    }
    Ok(Population {
        cardholders,
        agents,
    })
}

/// Splits agents across the mix's tiers in proportion, at least one per tier
/// that has weight; with fewer agents than tiers, every agent serves all.
pub fn agent_teams(mix: &TierMix, agents: usize) -> Vec<Vec<Team>> {
    let tiers: Vec<Tier> = mix.tiers().collect();
    if agents < tiers.len() {
        let all: Vec<Team> = tiers.iter().map(|t| Team::Tier(*t)).collect();
        return vec![all; agents];
    }
    // The mix's own split, then every tier given at least one agent, taken
    // from the best-staffed tier.
    let mut counts = mix.allocate(agents);
    while let Some(empty) = counts.iter().position(|c| *c == 0) {
        let Some(most) = (0..counts.len()).max_by_key(|i| counts[*i]) else {
            break;
        };
        counts[most] -= 1;
        counts[empty] += 1;
    }
    let mut out = Vec::with_capacity(agents);
    for (tier, count) in tiers.iter().zip(counts) {
        out.extend(std::iter::repeat_n(vec![Team::Tier(*tier)], count));
    }
    out
}

/// Reads `sub`, `role` and the role's claims from a JWT payload, unverified.
pub fn decode_claims(token: &str) -> Result<Value, String> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or("not a JWT (no payload part)")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| "payload is not base64url")?;
    serde_json::from_slice(&bytes).map_err(|_| "payload is not JSON".to_owned())
}

/// An identity from a token's claims.
pub fn identity_from_token(token: &str) -> Result<Identity, String> {
    let claims = decode_claims(token)?;
    let sub = claims["sub"].as_str().ok_or("no string `sub`")?.to_owned();
    let role: Role = claims["role"]
        .as_str()
        .ok_or("no string `role`")?
        .parse()
        .map_err(|e: switchboard::domain::UnknownName| e.to_string())?;
    let tier = match claims["tier"].as_str() {
        Some(t) => Some(
            t.parse()
                .map_err(|e: switchboard::domain::UnknownName| e.to_string())?,
        ),
        None => None,
    };
    let teams = claims["teams"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t.as_str()?.parse().ok()).collect())
        .unwrap_or_default();
    let max_chats = claims["max_chats"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(3);
    Ok(Identity {
        role,
        sub,
        tier,
        teams,
        max_chats,
        token: token.to_owned(),
    })
}

/// Reads a tokens file: one JWT a line, blank lines and `#` comments skipped.
pub fn from_file(path: &Path, cardholders: usize, agents: usize) -> Result<Population, TokenError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let mut pop = Population::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let id = identity_from_token(line).map_err(|why| TokenError::Bad { line: i + 1, why })?;
        match id.role {
            Role::Cardholder if id.tier.is_some() => pop.cardholders.push(id),
            Role::Cardholder => {
                return Err(TokenError::Bad {
                    line: i + 1,
                    why: "cardholder without `tier`".into(),
                })
            }
            Role::Agent => pop.agents.push(id),
            Role::Supervisor => {}
        }
    }
    // Two clients with one `sub` would share a conversation and confuse the
    // accounting, so tokens are never reused.
    if pop.cardholders.len() < cardholders {
        return Err(TokenError::TooFew {
            role: "cardholder",
            have: pop.cardholders.len(),
            need: cardholders,
        });
    }
    if pop.agents.len() < agents {
        return Err(TokenError::TooFew {
            role: "agent",
            have: pop.agents.len(),
            need: agents,
        });
    }
    pop.cardholders.truncate(cardholders);
    pop.agents.truncate(agents);
    Ok(pop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_round_trips_claims() {
        let claims =
            json!({"sub":"u1","role":"agent","teams":["premium","fraud"],"max_chats":5,"exp":1});
        let token = mint_hs256(b"s", &claims).expect("mint");
        let id = identity_from_token(&token).expect("decode");
        assert_eq!(id.sub, "u1");
        assert_eq!(id.role, Role::Agent);
        assert_eq!(id.max_chats, 5);
        assert_eq!(id.teams.len(), 2);
    }

    #[test]
    fn agents_cover_every_weighted_tier() {
        let mix: TierMix = "standard=70,premium=20,business=8,prepaid=2"
            .parse()
            .expect("mix");
        let teams = agent_teams(&mix, 10);
        assert_eq!(teams.len(), 10);
        for tier in mix.tiers() {
            assert!(
                teams.iter().any(|t| t.contains(&Team::Tier(tier))),
                "{tier}"
            );
        }
        let per_tier = |teams: &[Vec<Team>], t: Tier| {
            teams.iter().filter(|x| x.contains(&Team::Tier(t))).count()
        };
        let thousand = agent_teams(&mix, 1000);
        assert_eq!(
            per_tier(&thousand, Tier::Standard),
            700,
            "same split as the cardholders"
        );
        assert_eq!(per_tier(&teams, Tier::Prepaid), 1);
        let few = agent_teams(&mix, 2);
        assert_eq!(few[0].len(), 4);
    }
}
