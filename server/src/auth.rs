//! JWT verification: turns a bearer token into an [`Identity`] or a client-safe [`AuthError`].
//!
//! Before anything else reads the token, its header and payload JSON are read here
//! (`check_json_parts`): a header that carries a key or a key's URL (`jku`, `x5u`, `jwk`,
//! `x5c`) is refused, since keys never come from a token, and so is a payload that names a
//! claim twice, since which one wins would otherwise be a detail of the JSON parser.
//!
//! The algorithm is fixed by configuration ([`KeySource`], in [`crate::keys`] with the rest of
//! the key material), never by the token header, so
//! `alg: none` and HS256/RS256 confusion cannot get through. `jsonwebtoken` is configured
//! explicitly (its defaults allow 60 s of leeway and skip `nbf`): `exp` is required, `nbf` is
//! honoured, leeway is [`LEEWAY_SECS`], and a configured `iss`/`aud` must be present and match.
//! The hub's own claims (`sub`, `role`, `tier`, `teams`, …) are then checked by hand against a
//! strict shape: a claim of the wrong JSON type is a rejection, never an absent claim. A token
//! that lives longer than [`JwtSettings::max_lifetime`] or was issued in the future is refused.
//!
//! Keys given inline (a secret, a PEM, a JWKS text) are fixed for the life of the process.
//! Keys that rotate (`--jwks-url`, `--oidc-issuer`, `--jwks-file`) are held by
//! [`crate::keys::KeyRing`], which swaps in new key sets while tokens are verified; this
//! module only reads the key set in force and, for an unknown `kid`, may ask the ring for one
//! bounded refresh ([`Verifier::verify_refreshing`]). It knows nothing about HTTP or files.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::domain::{Role, Team, Tier, UserId};
use crate::keys::{
    AuthConfigError, JwtSettings, KeyRing, KeySet, KeySource, KeyStatus, Origin, Rules, LEEWAY_SECS,
};
use crate::metrics::Metrics;

/// Longest token accepted, in bytes. Real tokens are well under 2 KiB; the cap keeps a
/// hostile client from making us base64-decode and parse megabytes before the signature check.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

pub use crate::domain::MAX_SUB_BYTES;

/// Longest display `name`, in characters; it is shown in the agent pane and the widget.
pub const MAX_NAME_CHARS: usize = 80;

/// Most entries accepted in a `teams` array (there are only six teams; duplicates are merged).
pub const MAX_TEAMS_ENTRIES: usize = 16;

/// An agent's `max_chats` when the token does not say (SPEC: default 3).
pub const DEFAULT_MAX_CHATS: u8 = 3;

/// The allowed range of `max_chats` (SPEC: 1–10).
pub const MAX_CHATS_RANGE: std::ops::RangeInclusive<u8> = 1..=10;

/// Checks tokens against the configured keys and rules. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Verifier {
    /// Built once at start-up, shared by every connection task.
    inner: Arc<VerifierInner>,
}

/// What a [`Verifier`] shares between its clones.
struct VerifierInner {
    /// The key set, fixed or rotating.
    keys: HeldKeys,
    /// The rules every key's validation is built from (kept for `Debug` and the lifetime check).
    rules: Rules,
}

/// Where the key set in force lives.
enum HeldKeys {
    /// Keys given inline: they never change.
    Fixed(KeySet),
    /// Keys that rotate: the ring swaps in new sets and refreshes on an unknown `kid`.
    Rotating(Arc<KeyRing>),
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match &self.inner.keys {
            HeldKeys::Fixed(set) => set.describe(),
            HeldKeys::Rotating(ring) => {
                format!("{} from {}", ring.current().describe(), ring.origin())
            }
        };
        f.debug_struct("Verifier")
            .field("keys", &keys)
            .field("issuer", &self.inner.rules.issuer)
            .field("audience", &self.inner.rules.audience)
            .field("max_lifetime_s", &self.inner.rules.max_lifetime_secs)
            .finish()
    }
}

/// Who a verified token says the caller is.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The user's stable id (`sub`).
    pub sub: UserId,
    /// Display name (`name`), when the token has a non-blank one.
    pub name: Option<String>,
    /// `cardholder`, `agent` or `supervisor`.
    pub role: Role,
    /// When the token stops being valid (`exp`, Unix seconds); the hub closes the
    /// connection with 4401 then.
    pub expires_at: i64,
    /// The role-specific claims.
    pub principal: Principal,
}

impl Identity {
    /// The cardholder's tier, or `None` for agents and supervisors.
    pub fn tier(&self) -> Option<Tier> {
        match &self.principal {
            Principal::Cardholder { tier, .. } => Some(*tier),
            Principal::Agent { .. } => None,
        }
    }
}

/// The role-specific part of an [`Identity`].
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// role cardholder
    Cardholder {
        /// The card tier, which picks the waiting queue.
        tier: Tier,
        /// Last four digits of the phone on file, shown when a callback is booked.
        phone_last4: Option<String>,
    },
    /// role agent or supervisor
    Agent {
        /// The tier teams and desks the agent works, in token order, without duplicates.
        teams: Vec<Team>,
        /// How many chats the agent handles at once (1–10).
        max_chats: u8,
    },
}

/// Why a token was rejected. `Display` is safe to send to the client: it never echoes the
/// token or a claim's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not a well-formed JWT (shape, base64, JSON, size, unsupported header).
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// The header names an algorithm other than the configured one (including `none`).
    #[error("the token is signed with an algorithm this hub does not accept")]
    WrongAlgorithm,
    /// The signature does not match the configured key.
    #[error("the token's signature is not valid")]
    BadSignature,
    /// `exp` is past (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway): the issuer's clock or the token is wrong.
    #[error("the token says it was issued in the future")]
    IssuedInFuture,
    /// `exp − iat` (or `exp − now` without `iat`) is longer than `--jwt-max-lifetime`.
    #[error("the token lives longer than this hub accepts")]
    LifetimeTooLong,
    /// `iss` is missing or not the configured issuer.
    #[error("the token's issuer is not accepted")]
    WrongIssuer,
    /// `aud` is missing or does not include the configured audience.
    #[error("the token is meant for another audience")]
    WrongAudience,
    /// The token names no `kid`, or one the JWKS does not hold.
    #[error("the token's signing key is not known")]
    UnknownKey,
    /// The header carries a key or says where to fetch one (`jku`, `x5u`, `jwk`, `x5c`).
    #[error("the token's header names a signing key (jku, x5u, jwk or x5c); keys are never taken from a token")]
    KeyInHeader,
    /// The payload names a claim more than once (at the top level or inside an object claim).
    #[error("the token names a claim more than once")]
    DuplicateClaim,
    /// A claim is missing, of the wrong type or out of range; the text names the claim only.
    #[error("the token's claims are not acceptable: {0}")]
    BadClaims(String),
    /// [`mint_hs256`] could not make a token.
    #[error("could not mint a token: {0}")]
    Mint(String),
}

impl AuthError {
    /// The message to send to the client (the same as `Display`).
    pub fn client_message(&self) -> String {
        self.to_string()
    }

    /// A short machine-readable reason, e.g. for metrics labels or a close reason.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Malformed => "malformed",
            AuthError::WrongAlgorithm => "wrong_algorithm",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::IssuedInFuture => "issued_in_future",
            AuthError::LifetimeTooLong => "lifetime_too_long",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::UnknownKey => "unknown_key",
            AuthError::KeyInHeader => "key_in_header",
            AuthError::DuplicateClaim => "duplicate_claim",
            AuthError::BadClaims(_) => "bad_claims",
            AuthError::Mint(_) => "mint_failed",
        }
    }
}

impl Verifier {
    /// Builds a verifier from keys given inline (secret, PEM, JWKS text), checking the key
    /// material now so that a bad key stops start-up instead of failing every connection.
    /// Keys that must be loaded (file, URL, issuer) need [`Verifier::start`].
    pub fn new(settings: JwtSettings) -> Result<Verifier, AuthConfigError> {
        let rules = Rules::from_settings(&settings)?;
        let set = rules.fixed_key_set(settings.keys)?;
        Ok(Verifier {
            inner: Arc::new(VerifierInner {
                keys: HeldKeys::Fixed(set),
                rules,
            }),
        })
    }

    /// Builds a verifier from any key source: inline keys as [`Verifier::new`]; a JWKS file,
    /// URL or OpenID issuer is loaded now (failing when it cannot be: the hub never starts
    /// without keys) and then kept fresh by a background task that stops with `shutdown`.
    pub async fn start(
        settings: JwtSettings,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Result<Verifier, AuthConfigError> {
        let origin = match &settings.keys {
            KeySource::JwksFile(path) => Origin::File(path.clone()),
            KeySource::JwksUrl(url) => Origin::Url(url.clone()),
            KeySource::OidcIssuer(url) => Origin::Issuer(url.clone()),
            KeySource::Hs256Secret(_) | KeySource::PublicKeyPem(_) | KeySource::Jwks(_) => {
                return Verifier::new(settings)
            }
        };
        let rules = Rules::from_settings(&settings)?;
        if settings.refresh.is_zero() {
            return Err(AuthConfigError::ZeroDuration("--jwks-refresh"));
        }
        let ring = KeyRing::start(
            origin,
            rules.clone(),
            settings.refresh,
            settings.file_poll,
            metrics,
            shutdown,
        )
        .await?;
        Ok(Verifier {
            inner: Arc::new(VerifierInner {
                keys: HeldKeys::Rotating(ring),
                rules,
            }),
        })
    }

    /// The state of rotating keys (age, last failure), or `None` for keys given inline.
    pub fn key_status(&self) -> Option<KeyStatus> {
        match &self.inner.keys {
            HeldKeys::Fixed(_) => None,
            HeldKeys::Rotating(ring) => Some(ring.status()),
        }
    }

    /// Verifies a token's signature, times, issuer and audience against the keys held now,
    /// then reads the hub's claims.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        check_json_parts(token).inspect_err(|e| {
            // The reason only: never the token, a claim or a header value.
            tracing::info!(reason = e.code(), "token refused: {e}");
        })?;
        let header = read_header(token)?;
        // `crit` lists extensions the verifier must understand; this one understands none.
        if header.crit.is_some() {
            return Err(AuthError::Malformed);
        }
        // The rotating set is loaded once per call; a swap meanwhile does not affect this token.
        let held;
        let set: &KeySet = match &self.inner.keys {
            HeldKeys::Fixed(set) => set,
            HeldKeys::Rotating(ring) => {
                held = ring.current();
                &held
            }
        };
        let key = match set {
            KeySet::Single(key) => key,
            KeySet::ByKid(map) => header
                .kid
                .as_deref()
                .and_then(|kid| map.get(kid))
                .ok_or(AuthError::UnknownKey)?,
        };
        if header.alg != key.alg {
            return Err(AuthError::WrongAlgorithm);
        }
        let data = jsonwebtoken::decode::<Value>(token, &key.key, &key.validation)
            .map_err(|e| map_jwt_error(e, token))?;
        match data.claims {
            Value::Object(claims) => identity_from_claims(&claims, &self.inner.rules, now_secs()),
            _ => Err(AuthError::Malformed),
        }
    }

    /// [`Verifier::verify`], and when rotating keys do not hold the token's `kid`, asks for
    /// one refresh (at most one every 10 s for the whole key source, however many tokens
    /// ask) and waits for it, at most 5 s, before verifying again: a key the issuer has just
    /// added works at once, while made-up `kid`s cannot make the hub hammer the issuer.
    pub async fn verify_refreshing(&self, token: &str) -> Result<Identity, AuthError> {
        let first = self.verify(token);
        let HeldKeys::Rotating(ring) = &self.inner.keys else {
            return first;
        };
        if first != Err(AuthError::UnknownKey) {
            return first;
        }
        // A token without a `kid` cannot be helped by new keys.
        if read_header(token).map_or(true, |h| h.kid.is_none()) {
            return first;
        }
        ring.refresh_for_unknown_kid().await;
        self.verify(token)
    }
}

/// Seconds since 1970 by this machine's clock.
fn now_secs() -> i64 {
    i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX)
}

/// Header members that carry a key or say where to fetch one (RFC 7515 §4.1.2–4.1.6): a
/// verifier that followed them would let the token choose its own key.
const KEY_HEADER_MEMBERS: &[&str] = &["jku", "jwk", "x5u", "x5c"];

/// Reads the token's header and payload as JSON text before `jsonwebtoken` sees them
/// (SPEC "Tokens (JWT)"): a header carrying [`KEY_HEADER_MEMBERS`] is
/// [`AuthError::KeyInHeader`] (present at all, even `null`), a header that repeats a member
/// is malformed, and a payload that repeats a member name anywhere (at the top level, or in
/// an object claim such as `cnf`) is [`AuthError::DuplicateClaim`]: which of two `role`s
/// wins must not be a detail of a JSON parser. Parts that are not base64url JSON are left
/// to `jsonwebtoken`, which reads them with the same base64 engine and JSON parser and
/// refuses them as before.
fn check_json_parts(token: &str) -> Result<(), AuthError> {
    let mut parts = token.splitn(3, '.');
    let (Some(header), Some(payload)) = (parts.next(), parts.next()) else {
        return Ok(());
    };
    if let Ok(header) = URL_SAFE_NO_PAD.decode(header) {
        if repeats_a_member(&header) == Some(true) {
            return Err(AuthError::Malformed);
        }
        if let Ok(Value::Object(members)) = serde_json::from_slice::<Value>(&header) {
            if KEY_HEADER_MEMBERS.iter().any(|m| members.contains_key(*m)) {
                return Err(AuthError::KeyInHeader);
            }
        }
    }
    if let Ok(payload) = URL_SAFE_NO_PAD.decode(payload) {
        if repeats_a_member(&payload) == Some(true) {
            return Err(AuthError::DuplicateClaim);
        }
    }
    Ok(())
}

/// Whether some object in the JSON text `json` names a member twice (names compared after
/// unescaping, so `"role"` and `"\u0072ole"` are one name); `None` when it is not JSON.
/// serde_json's own depth limit (128) bounds the walk.
fn repeats_a_member(json: &[u8]) -> Option<bool> {
    let repeated = std::cell::Cell::new(false);
    let mut reader = serde_json::Deserializer::from_slice(json);
    let read = serde::de::DeserializeSeed::deserialize(Walk(&repeated), &mut reader)
        .and_then(|()| reader.end());
    match read {
        Ok(()) => Some(false),
        Err(_) if repeated.get() => Some(true),
        Err(_) => None,
    }
}

/// A JSON value walked for [`repeats_a_member`]; sets the flag and stops at the first
/// object that repeats a name.
struct Walk<'a>(&'a std::cell::Cell<bool>);

impl<'de> serde::de::DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Walk(self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut names = std::collections::HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !names.insert(name) {
                self.0.set(true);
                return Err(serde::de::Error::custom("a member name is repeated"));
            }
            map.next_value_seed(Walk(self.0))?;
        }
        Ok(())
    }
}

/// Decodes the header; a header that fails only because its `alg` is unsupported (`none`,
/// `HS999`…) is reported as [`AuthError::WrongAlgorithm`], anything else as malformed.
fn read_header(token: &str) -> Result<Header, AuthError> {
    jsonwebtoken::decode_header(token).map_err(|_| {
        let names_an_alg = token
            .split('.')
            .next()
            .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
            .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
            .is_some_and(|h| {
                h.get("alg")
                    .and_then(Value::as_str)
                    .is_some_and(|alg| alg.parse::<Algorithm>().is_err())
            });
        if names_an_alg {
            AuthError::WrongAlgorithm
        } else {
            AuthError::Malformed
        }
    })
}

/// Maps `jsonwebtoken`'s error to ours without carrying its text (which may quote input).
/// Claim errors are only reported after the signature checked out (that is when
/// `jsonwebtoken` looks at claims), so `token`'s payload can be read to say precisely which
/// claim is wrong: absent, or present with the wrong type.
fn map_jwt_error(err: jsonwebtoken::errors::Error, token: &str) -> AuthError {
    match err.kind() {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => AuthError::WrongAlgorithm,
        // `jsonwebtoken` reports a claim it could not parse (`"exp": "tomorrow"`) as missing.
        ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
            claim_problem(&payload_claims(token).unwrap_or_default(), claim)
        }
        // A payload that is a JSON object but cannot be read as registered claims has a
        // structured value where a number or string belongs (`"exp": [1]`).
        ErrorKind::Json(_) => match payload_claims(token) {
            Some(claims) => REGISTERED_CLAIMS
                .iter()
                .find(|c| {
                    claims
                        .get(**c)
                        .is_some_and(|v| v.is_array() || v.is_object())
                })
                .map_or(AuthError::Malformed, |c| claim_problem(&claims, c)),
            None => AuthError::Malformed,
        },
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => AuthError::Malformed,
        // Key-format and provider errors cannot happen with keys checked in `Verifier::new`;
        // whatever they are, the token did not verify.
        _ => AuthError::BadSignature,
    }
}

/// The registered claims `jsonwebtoken` parses, in the order they are reported.
const REGISTERED_CLAIMS: &[&str] = &["exp", "nbf", "iat", "iss", "aud", "sub"];

/// The payload of a token whose signature has been verified, as a JSON object.
fn payload_claims(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(claims) => Some(claims),
        _ => None,
    }
}

/// What is wrong with a registered claim `jsonwebtoken` refused: absent, or of the wrong type.
/// Names the claim, never its value.
fn claim_problem(claims: &Map<String, Value>, claim: &str) -> AuthError {
    let present = claims.get(claim).is_some_and(|v| !v.is_null());
    match (claim, present) {
        ("iss", false) => AuthError::WrongIssuer,
        ("aud", false) => AuthError::WrongAudience,
        ("iss", true) => AuthError::BadClaims("`iss` must be a string".into()),
        ("aud", true) => {
            AuthError::BadClaims("`aud` must be a string or an array of strings".into())
        }
        ("sub", true) => AuthError::BadClaims("`sub` must be a string".into()),
        ("exp" | "nbf" | "iat", true) => AuthError::BadClaims(format!(
            "`{claim}` must be a number (seconds since 1970), not another type"
        )),
        ("exp" | "nbf" | "iat" | "sub", false) => {
            AuthError::BadClaims(format!("`{claim}` is required"))
        }
        (_, true) => AuthError::BadClaims("a registered claim has the wrong type".into()),
        (_, false) => AuthError::BadClaims("a required claim is missing".into()),
    }
}

/// A NumericDate claim as whole seconds (fractions rounded down, huge values saturated).
fn numeric_date(n: &serde_json::Number) -> Option<i64> {
    n.as_i64()
        .or_else(|| n.as_u64().map(|_| i64::MAX))
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.floor() as i64)
        })
}

/// Reads the hub's claims from a verified payload, strictly; `now` is the current time in
/// seconds, for the lifetime and `iat` checks.
fn identity_from_claims(
    claims: &Map<String, Value>,
    rules: &Rules,
    now: i64,
) -> Result<Identity, AuthError> {
    let bad = |msg: &str| AuthError::BadClaims(msg.to_owned());

    // Registered claims `jsonwebtoken` only half-checks: `iss` may be an array there, and
    // `iat` is not looked at.
    if claims
        .get("iss")
        .is_some_and(|v| !v.is_string() && !v.is_null())
    {
        return Err(bad("`iss` must be a string"));
    }
    let issued_at = match claims.get("iat") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            numeric_date(n).ok_or_else(|| bad("`iat` must be a number (seconds since 1970)"))?,
        ),
        Some(_) => {
            return Err(bad(
                "`iat` must be a number (seconds since 1970), not another type",
            ))
        }
    };
    let expires_at = match claims.get("exp") {
        Some(Value::Number(n)) => {
            numeric_date(n).ok_or_else(|| bad("`exp` must be a number (seconds since 1970)"))?
        }
        None | Some(Value::Null) => return Err(bad("`exp` is required")),
        Some(_) => {
            return Err(bad(
                "`exp` must be a number (seconds since 1970), not another type",
            ))
        }
    };
    let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(0);
    if issued_at.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(AuthError::IssuedInFuture);
    }
    // With `iat`, the lifetime is what the issuer granted; without it, what is left, and the
    // leeway covers an issuer whose clock runs a little ahead of ours.
    let (lifetime, allowed) = match issued_at {
        Some(iat) => (expires_at.saturating_sub(iat), rules.max_lifetime_secs),
        None => (
            expires_at.saturating_sub(now),
            rules.max_lifetime_secs.saturating_add(leeway),
        ),
    };
    if lifetime > allowed {
        return Err(AuthError::LifetimeTooLong);
    }

    let sub = match claims.get("sub") {
        Some(Value::String(s)) => UserId::parse(s).map_err(|e| bad(&format!("`sub` {e}")))?,
        None | Some(Value::Null) => return Err(bad("`sub` is required")),
        Some(_) => return Err(bad("`sub` must be a string")),
    };

    let name =
        match claims.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                if s.chars().count() > MAX_NAME_CHARS {
                    return Err(bad("`name` is too long"));
                }
                // Invisible and bidirectional characters go (`crate::text`). An empty
                // string is how some issuers say "no name"; a name that is blank only
                // once cleaned (fillers, Braille blanks, isolates) is refused (SPEC).
                match crate::text::clean_name(s) {
                    _ if s.is_empty() => None,
                    Ok(name) => Some(name.into_owned()),
                    Err(crate::text::TextError::Empty) => return Err(bad(
                        "`name` is blank once invisible and blank-looking characters are removed",
                    )),
                    Err(_) => return Err(bad("`name` contains control characters")),
                }
            }
            Some(_) => return Err(bad("`name` must be a string")),
        };

    let role: Role = match claims.get("role") {
        Some(Value::String(s)) => s.parse().map_err(|_| bad("`role` is not a known role"))?,
        None | Some(Value::Null) => return Err(bad("`role` is required")),
        Some(_) => return Err(bad("`role` must be a string")),
    };

    let principal = match role {
        Role::Cardholder => cardholder_claims(claims)?,
        Role::Agent | Role::Supervisor => agent_claims(claims)?,
    };

    Ok(Identity {
        sub,
        name,
        role,
        expires_at,
        principal,
    })
}

/// `tier` (required) and `phone_last4` (optional, exactly four digits).
fn cardholder_claims(claims: &Map<String, Value>) -> Result<Principal, AuthError> {
    let bad = |msg: &str| AuthError::BadClaims(msg.to_owned());
    let tier: Tier = match claims.get("tier") {
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| bad("`tier` is not a known card tier"))?,
        None | Some(Value::Null) => return Err(bad("`tier` is required for a cardholder")),
        Some(_) => return Err(bad("`tier` must be a string")),
    };
    let phone_last4 = match claims.get("phone_last4") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) => {
            Some(s.clone())
        }
        Some(_) => return Err(bad("`phone_last4` must be a string of four digits")),
    };
    Ok(Principal::Cardholder { tier, phone_last4 })
}

/// `teams` (required, non-empty, known names) and `max_chats` (1–10, default 3).
fn agent_claims(claims: &Map<String, Value>) -> Result<Principal, AuthError> {
    let bad = |msg: &str| AuthError::BadClaims(msg.to_owned());
    let entries = match claims.get("teams") {
        Some(Value::Array(a)) if a.is_empty() => return Err(bad("`teams` is empty")),
        Some(Value::Array(a)) if a.len() > MAX_TEAMS_ENTRIES => {
            return Err(bad("`teams` has too many entries"))
        }
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => return Err(bad("`teams` is required for an agent")),
        Some(_) => return Err(bad("`teams` must be an array of team names")),
    };
    let mut teams: Vec<Team> = Vec::with_capacity(entries.len());
    for entry in entries {
        let team: Team = match entry {
            Value::String(s) => s
                .parse()
                .map_err(|_| bad("`teams` names an unknown team"))?,
            _ => return Err(bad("`teams` must be an array of team names")),
        };
        if !teams.contains(&team) {
            teams.push(team);
        }
    }
    let max_chats = match claims.get("max_chats") {
        None | Some(Value::Null) => DEFAULT_MAX_CHATS,
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .filter(|n| MAX_CHATS_RANGE.contains(n))
            .ok_or_else(|| bad("`max_chats` must be a whole number from 1 to 10"))?,
        Some(_) => return Err(bad("`max_chats` must be a whole number from 1 to 10")),
    };
    Ok(Principal::Agent { teams, max_chats })
}

/// For tests: an HS256 token made of exactly these header and payload texts
/// (a header naming a key, a claim written twice: tokens no JSON serialiser
/// writes), signed with `secret`.
pub fn sign_hs256_raw(secret: &[u8], header: &str, payload: &str) -> String {
    use hmac::{Hmac, Mac};
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        unreachable!("HMAC accepts every key length")
    };
    mac.update(signing_input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

/// For `--dev` mode and tests: mint an HS256 token from claims JSON (sub, role, tier|teams,
/// name, exp...). The claims are signed as given, not checked (tests mint bad tokens on
/// purpose) and nothing is added: include `exp`, or [`Verifier::verify`] will refuse it.
pub fn mint_hs256(secret: &[u8], claims: &serde_json::Value) -> Result<String, AuthError> {
    if secret.is_empty() {
        return Err(AuthError::Mint("the secret is empty".into()));
    }
    if !claims.is_object() {
        return Err(AuthError::Mint("the claims must be a JSON object".into()));
    }
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("JWT".into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret))
        .map_err(|_| AuthError::Mint("signing failed".into()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::keys::*;
    // Test-only keys, generated once with `openssl genpkey` for these tests and used nowhere else.
    const RSA_PRIVATE_PEM: &str = "\
-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC2lz8aVKRZGYMb
RsX1ht52ySd5LKF1nyPyaEVNutFmlB4ps94h5Li3qe51OLmn4JzKG5q9gkVZVAtI
CFXeBOz36oU6zmTTlTy70sZQdECCte4H38w5F29YYTtFs6VhA/m0bpsh0YkhPvpX
l1bCmT/qQ4M+AJ3PPJ/X+YrChEuuExvWda3EWOoR+iKcgWV2xRMh6IFu22nRQekC
W5z15iXJ0aFl2GitzST2j0iLoPglmSe41ZbOShDng7xgSV3vPQJijtKiZNOASa7G
SISsRVC18yqd+t+mWp4QJnJInZk/pZmNzcGUi73/6j5o6XKRIGWjGhG+VG1lIIal
Hx2lzCd1AgMBAAECggEAAJzCvXlO7RmlqyoJu5LGi5EXjpYSwCm2yzSwqW0D6KZo
8HyEpntVXhoCT+RKNqShBkpDmhtyXw3hC0SgWY5wBMfUUQ4Jad+zxdgsyfjcmuiK
GE1lb2GoX4ijylgvwXjwzljQsMvdCuNxbl9Y2QtquFKeS0VhX6UvE6pAe5d7GxwD
V+BSM/xsBGQsTN9idLZQFPPAqPD+OPZopa1Ecj6FE6bG+NJifZg+3DDv6AezQyfS
YcvtbjvqVNWlfJ33dmf2lIJdkTLFxCr18WBbwXqf6H0hRVkZV6NalSRZhSKgjfPI
sApK+vsQGMXq3o6iNjwb2vEJxT7LnTXaH6Ibh4FBeQKBgQDmaBNvXTea9hGVd09d
6Spv3cgxrwoPRb/6V9Z0h+Em3tukWoht//tlav1oa0Rim2K85/UjLp1kfkYgdL/F
03jpQ00QtSy27WCjClwvkuyiI75WgIU+Xrtd/itFrRM4V+PaDsB+nw5H92Q+mebO
1a0FfJCzAocxmBF2YaWlldUrKQKBgQDK33cBRrUSlHxMC4MikNo+sudas1erdSg1
Np1LlTwxuJ7vmfAgsSDNe+cO0nH4grNQ5YbWN0WyDkf2xxp9wiqRZJQTNL9Jds3E
5WQ3LxQXvMmda2dAgg6V+dL7CIrljNj9/kHDevBNCEKuPPEfqcj4S05HzXzOIMgS
iwRbJgJvbQKBgQDHrCwjl5onvdXxPOtYDEgNmBr1C6dhIuZDcrnUVSlHAV1Ban/P
LEbWVkjzo/ooplaENVTYv34A5/moCOVk8GZZaEyyDQCKKt9TjBfl1qMhxG4gEtLm
ATzJMQqZIGuGqYw5ng0t7nN25KtIISHH359JIPFZYPh+fzWq7OabwGRzOQKBgQC6
ruXgm8M2RMMYayOR5D+goJp6gTv0gAuu5AHcsohArMY8b6hjPPuVeyXFIuxTpVoC
4COy7gvJbJDWSqNbBBiN0ELeZZR8ssFpJTmR+lV//m582H+cAdIQOmLmNBc0Yuau
25CCpJeKG0bY9SVhYKiZqxpuwm3NdKcHQTuR8KkfBQKBgEG7zPEtKFQ/iVrwV6Zm
ORVU1WHJf4ZX04sft1nSqwmESBjWnLWOKjTXQz3rNMdYYA3Is7A47fd2GkeJfuBh
AxGI52HwrEiAabP5l86Zj3Iy1McoQK7b73u+RH3g8c2krm+3TUK4WjDsLy+ocTai
m6XS2qJO0Wbr+A3mPR1Wb/5i
-----END PRIVATE KEY-----
";
    const RSA_PUBLIC_PEM: &str = "\
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtpc/GlSkWRmDG0bF9Ybe
dskneSyhdZ8j8mhFTbrRZpQeKbPeIeS4t6nudTi5p+CcyhuavYJFWVQLSAhV3gTs
9+qFOs5k05U8u9LGUHRAgrXuB9/MORdvWGE7RbOlYQP5tG6bIdGJIT76V5dWwpk/
6kODPgCdzzyf1/mKwoRLrhMb1nWtxFjqEfoinIFldsUTIeiBbttp0UHpAluc9eYl
ydGhZdhorc0k9o9Ii6D4JZknuNWWzkoQ54O8YEld7z0CYo7SomTTgEmuxkiErEVQ
tfMqnfrfplqeECZySJ2ZP6WZjc3BlIu9/+o+aOlykSBloxoRvlRtZSCGpR8dpcwn
dQIDAQAB
-----END PUBLIC KEY-----
";
    const EC_PRIVATE_PEM: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgqNb0K/DtB0jhTNsp
MUdXvZChJh9uSQINa3oBpahv5sGhRANCAAStaRIEfengRPbFbPJHE4mm08MNhviY
Y2H2fKpi+/cp60VP5dQ6kS95LzArZpGK1+LG7QEyZ61eMj9gLnutRiBl
-----END PRIVATE KEY-----
";
    const EC_PUBLIC_PEM: &str = "\
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAErWkSBH3p4ET2xWzyRxOJptPDDYb4
mGNh9nyqYvv3KetFT+XUOpEveS8wK2aRitfixu0BMmetXjI/YC57rUYgZQ==
-----END PUBLIC KEY-----
";
    const EC_P384_PUBLIC_PEM: &str = "\
-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAElDBN6YRT8CHUWjbF55SE99Xd2cFQ6yg1
cMoNSq9w+2yI6rBq8YZ3RvMnjdoz1n2YfDH5ZJ+bFKSfLbkiQMPBCfnPyZ/m/CKd
FWXpEXR3uGx36PWH9BcIKRUnVUHALaEL
-----END PUBLIC KEY-----
";

    /// `n`/`e` of `RSA_PUBLIC_PEM` and `x`/`y` of `EC_PUBLIC_PEM`, base64url (computed once
    /// with python `cryptography`).
    const JWKS: &str = r#"{"keys":[
        {"kty":"oct","kid":"hmac-1","k":"c2VjcmV0"},
        {"kty":"RSA","kid":"rsa-1","use":"sig","alg":"RS256","e":"AQAB",
         "n":"tpc_GlSkWRmDG0bF9YbedskneSyhdZ8j8mhFTbrRZpQeKbPeIeS4t6nudTi5p-CcyhuavYJFWVQLSAhV3gTs9-qFOs5k05U8u9LGUHRAgrXuB9_MORdvWGE7RbOlYQP5tG6bIdGJIT76V5dWwpk_6kODPgCdzzyf1_mKwoRLrhMb1nWtxFjqEfoinIFldsUTIeiBbttp0UHpAluc9eYlydGhZdhorc0k9o9Ii6D4JZknuNWWzkoQ54O8YEld7z0CYo7SomTTgEmuxkiErEVQtfMqnfrfplqeECZySJ2ZP6WZjc3BlIu9_-o-aOlykSBloxoRvlRtZSCGpR8dpcwndQ"},
        {"kty":"EC","kid":"ec-1","crv":"P-256",
         "x":"rWkSBH3p4ET2xWzyRxOJptPDDYb4mGNh9nyqYvv3Kes",
         "y":"RU_l1DqRL3kvMCtmkYrX4sbtATJnrV4yP2Aue61GIGU"}
    ]}"#;

    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"test-secret-for-switchboard-auth-unit-tests";

    fn now() -> i64 {
        i64::try_from(jsonwebtoken::get_current_timestamp()).expect("clock fits i64")
    }

    fn settings(keys: KeySource) -> JwtSettings {
        JwtSettings::new(keys)
    }

    fn hs256() -> Verifier {
        Verifier::new(settings(KeySource::Hs256Secret(SECRET.to_vec()))).expect("valid secret")
    }

    fn rs256() -> Verifier {
        Verifier::new(settings(KeySource::PublicKeyPem(RSA_PUBLIC_PEM.into()))).expect("RSA PEM")
    }

    fn es256() -> Verifier {
        Verifier::new(settings(KeySource::PublicKeyPem(EC_PUBLIC_PEM.into()))).expect("EC PEM")
    }

    fn jwks() -> Verifier {
        Verifier::new(settings(KeySource::Jwks(JWKS.into()))).expect("JWKS")
    }

    fn cardholder() -> Value {
        json!({"sub": "u-1", "role": "cardholder", "tier": "premium", "exp": now() + 600})
    }

    fn agent() -> Value {
        json!({"sub": "a-1", "role": "agent", "teams": ["standard", "fraud"], "exp": now() + 600})
    }

    /// `claims` with `changes` merged in (a `null` change removes the claim).
    fn with(mut claims: Value, changes: Value) -> Value {
        let (Some(obj), Value::Object(changes)) = (claims.as_object_mut(), changes) else {
            panic!("objects expected");
        };
        for (k, v) in changes {
            if v.is_null() {
                obj.remove(&k);
            } else {
                obj.insert(k, v);
            }
        }
        claims
    }

    fn mint(claims: &Value) -> String {
        mint_hs256(SECRET, claims).expect("mint")
    }

    fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()),
            Algorithm::ES256 => EncodingKey::from_ec_pem(EC_PRIVATE_PEM.as_bytes()),
            Algorithm::HS256 => Ok(EncodingKey::from_secret(SECRET)),
            other => panic!("no test key for {other:?}"),
        }
        .expect("test key");
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &key).expect("sign")
    }

    fn b64(json: &Value) -> String {
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    fn rejected(v: &Verifier, token: &str) -> AuthError {
        v.verify(token).expect_err("token must be rejected")
    }

    fn bad_claims(v: &Verifier, claims: &Value) -> String {
        match rejected(v, &mint(claims)) {
            AuthError::BadClaims(msg) => msg,
            other => panic!("expected BadClaims, got {other:?}"),
        }
    }

    // --- positive cases -------------------------------------------------------------------

    #[test]
    fn hs256_cardholder_accepted() {
        let exp = now() + 600;
        let claims = with(
            cardholder(),
            json!({"exp": exp, "name": " Ann ", "phone_last4": "0042"}),
        );
        let id = hs256().verify(&mint(&claims)).expect("valid token");
        assert_eq!(
            id,
            Identity {
                sub: UserId::from("u-1"),
                name: Some("Ann".into()),
                role: Role::Cardholder,
                expires_at: exp,
                principal: Principal::Cardholder {
                    tier: Tier::Premium,
                    phone_last4: Some("0042".into())
                },
            }
        );
        assert_eq!(id.tier(), Some(Tier::Premium));
    }

    #[test]
    fn hs256_agent_defaults_and_dedups() {
        let claims = with(agent(), json!({"teams": ["standard", "fraud", "standard"]}));
        let id = hs256().verify(&mint(&claims)).expect("valid token");
        assert_eq!(id.role, Role::Agent);
        assert_eq!(
            id.principal,
            Principal::Agent {
                teams: vec![
                    Team::Tier(Tier::Standard),
                    Team::Desk(crate::domain::Desk::Fraud)
                ],
                max_chats: DEFAULT_MAX_CHATS,
            }
        );
        let sup = with(agent(), json!({"role": "supervisor", "max_chats": 10}));
        let id = hs256().verify(&mint(&sup)).expect("valid token");
        assert_eq!(id.role, Role::Supervisor);
        assert!(matches!(
            id.principal,
            Principal::Agent { max_chats: 10, .. }
        ));
    }

    #[test]
    fn rs256_pem_accepted() {
        let id = rs256()
            .verify(&sign(Algorithm::RS256, None, &cardholder()))
            .expect("valid");
        assert_eq!(id.sub.as_str(), "u-1");
    }

    #[test]
    fn es256_pem_accepted() {
        let id = es256()
            .verify(&sign(Algorithm::ES256, None, &agent()))
            .expect("valid");
        assert_eq!(id.role, Role::Agent);
    }

    #[test]
    fn jwks_picks_key_by_kid() {
        let v = jwks();
        assert!(v
            .verify(&sign(Algorithm::RS256, Some("rsa-1"), &cardholder()))
            .is_ok());
        assert!(v
            .verify(&sign(Algorithm::ES256, Some("ec-1"), &agent()))
            .is_ok());
    }

    #[test]
    fn aud_ignored_when_not_configured() {
        let claims = with(
            cardholder(),
            json!({"aud": "someone-else", "iss": "anyone"}),
        );
        assert!(hs256().verify(&mint(&claims)).is_ok());
    }

    #[test]
    fn iss_and_aud_accepted_when_matching() {
        let v = Verifier::new(JwtSettings {
            issuer: Some("https://login.example".into()),
            audience: Some("switchboard".into()),
            ..settings(KeySource::Hs256Secret(SECRET.to_vec()))
        })
        .expect("settings");
        let claims = with(
            cardholder(),
            json!({"iss": "https://login.example", "aud": ["x", "switchboard"]}),
        );
        assert!(v.verify(&mint(&claims)).is_ok());
    }

    // --- signature and algorithm ------------------------------------------------------------

    #[test]
    fn bad_signature_rejected() {
        let token = mint_hs256(b"another-secret", &cardholder()).expect("mint");
        assert_eq!(rejected(&hs256(), &token), AuthError::BadSignature);

        // Same header and signature, different payload.
        let good = mint(&cardholder());
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = b64(&with(cardholder(), json!({"tier": "business"})));
        parts[1] = &forged;
        assert_eq!(
            rejected(&hs256(), &parts.join(".")),
            AuthError::BadSignature
        );

        let rsa = sign(Algorithm::RS256, None, &cardholder());
        let tampered = format!("{}AA", &rsa[..rsa.len() - 2]);
        assert_eq!(rejected(&rs256(), &tampered), AuthError::BadSignature);
    }

    #[test]
    fn hs256_token_rejected_by_rs256_config() {
        assert_eq!(
            rejected(&rs256(), &mint(&cardholder())),
            AuthError::WrongAlgorithm
        );
        assert_eq!(
            rejected(&es256(), &mint(&cardholder())),
            AuthError::WrongAlgorithm
        );
    }

    #[test]
    fn rs256_token_rejected_by_hs256_config() {
        let token = sign(Algorithm::RS256, None, &cardholder());
        assert_eq!(rejected(&hs256(), &token), AuthError::WrongAlgorithm);
    }

    #[test]
    fn hs256_signed_with_public_key_text_rejected() {
        // The classic confusion attack: HMAC keyed with the server's public key.
        let token = mint_hs256(RSA_PUBLIC_PEM.as_bytes(), &cardholder()).expect("mint");
        assert_eq!(rejected(&rs256(), &token), AuthError::WrongAlgorithm);
    }

    #[test]
    fn alg_none_rejected() {
        let payload = b64(&cardholder());
        for header in [json!({"alg": "none"}), json!({"alg": "none", "typ": "JWT"})] {
            let token = format!("{}.{payload}.", b64(&header));
            for v in [hs256(), rs256(), jwks()] {
                assert_eq!(rejected(&v, &token), AuthError::WrongAlgorithm);
            }
        }
        let token = format!("eyJhbGciOiJub25lIn0.{payload}.");
        assert_eq!(rejected(&hs256(), &token), AuthError::WrongAlgorithm);
    }

    #[test]
    fn malformed_tokens_rejected() {
        let v = hs256();
        for token in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "!!!.???.###",
            &"a".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert_eq!(rejected(&v, token), AuthError::Malformed, "{token:.20}");
        }
        // A payload that is JSON but not an object.
        let token = format!("{}.{}.", b64(&json!({"alg": "HS256"})), b64(&json!([1, 2])));
        assert!(v.verify(&token).is_err());
    }

    #[test]
    fn crit_header_rejected() {
        let mut header = Header::new(Algorithm::HS256);
        header.crit = Some(vec!["exp-ext".into()]);
        let token = jsonwebtoken::encode(&header, &cardholder(), &EncodingKey::from_secret(SECRET))
            .expect("sign");
        assert_eq!(rejected(&hs256(), &token), AuthError::Malformed);
    }

    // --- times ------------------------------------------------------------------------------

    #[test]
    fn expired_beyond_leeway_rejected() {
        let claims = with(cardholder(), json!({"exp": now() - 120}));
        assert_eq!(rejected(&hs256(), &mint(&claims)), AuthError::Expired);
    }

    #[test]
    fn expired_within_leeway_accepted() {
        let claims = with(cardholder(), json!({"exp": now() - 10}));
        assert!(hs256().verify(&mint(&claims)).is_ok());
    }

    #[test]
    fn missing_exp_rejected() {
        let claims = with(cardholder(), json!({"exp": null}));
        assert!(bad_claims(&hs256(), &claims).contains("exp"));
        // An explicit `"exp": null` is no better than none.
        let mut claims = cardholder();
        claims["exp"] = Value::Null;
        assert!(bad_claims(&hs256(), &claims).contains("exp"));
    }

    #[test]
    fn future_nbf_rejected_and_near_nbf_accepted() {
        let claims = with(cardholder(), json!({"nbf": now() + 300}));
        assert_eq!(rejected(&hs256(), &mint(&claims)), AuthError::NotYetValid);
        let claims = with(cardholder(), json!({"nbf": now() + 10}));
        assert!(hs256().verify(&mint(&claims)).is_ok());
    }

    #[test]
    fn type_confused_times_rejected() {
        let v = hs256();
        for (claim, value) in [
            ("exp", json!("tomorrow")),
            ("exp", json!(-5)),
            ("exp", json!(true)),
            ("exp", json!([1])),
            ("exp", json!({"t": 1})),
            ("nbf", json!("x")),
            ("nbf", json!(false)),
            ("nbf", json!([now()])),
            ("iat", json!("yesterday")),
            ("iat", json!({"t": 1})),
        ] {
            let claims = with(cardholder(), json!({ claim: value }));
            let msg = bad_claims(&v, &claims);
            // The wrong type is named as such, never reported as an absent claim.
            assert!(
                msg.contains(&format!("`{claim}` must be a number")),
                "{claim} = {value}: {msg}"
            );
            assert!(!msg.contains("required"), "{claim} = {value}: {msg}");
        }
        // The message never quotes the value.
        let claims = with(cardholder(), json!({"exp": "tomorrow"}));
        assert!(!bad_claims(&v, &claims).contains("tomorrow"));
        // An absent `exp` is still called absent.
        let claims = with(cardholder(), json!({"exp": null}));
        assert_eq!(bad_claims(&v, &claims), "`exp` is required");
    }

    #[test]
    fn type_confused_claims_are_checked_only_after_the_signature() {
        // A forged token with a type-confused claim is a bad signature, not a claims report.
        let claims = with(cardholder(), json!({"exp": "tomorrow"}));
        let forged = mint_hs256(b"another-secret", &claims).expect("mint");
        assert_eq!(rejected(&hs256(), &forged), AuthError::BadSignature);
    }

    // --- lifetime -------------------------------------------------------------------------

    fn with_max_lifetime(secs: u64) -> Verifier {
        Verifier::new(JwtSettings {
            max_lifetime: Duration::from_secs(secs),
            ..settings(KeySource::Hs256Secret(SECRET.to_vec()))
        })
        .expect("settings")
    }

    #[test]
    fn lifetime_from_iat_is_bounded() {
        let v = hs256();
        let day = i64::try_from(DEFAULT_MAX_LIFETIME_SECS).expect("fits");
        // Exactly the default 24 h is accepted, one second more is not.
        let claims = with(cardholder(), json!({"iat": now(), "exp": now() + day}));
        assert!(v.verify(&mint(&claims)).is_ok());
        let claims = with(cardholder(), json!({"iat": now(), "exp": now() + day + 1}));
        assert_eq!(rejected(&v, &mint(&claims)), AuthError::LifetimeTooLong);
        // Counted from `iat`, not from now: a week-long token issued six days ago is refused
        // although it has only one day left.
        let claims = with(
            cardholder(),
            json!({"iat": now() - 6 * day, "exp": now() + day - 60}),
        );
        assert_eq!(rejected(&v, &mint(&claims)), AuthError::LifetimeTooLong);
        // A 100-year token.
        let claims = with(
            cardholder(),
            json!({"iat": now(), "exp": now() + 100 * 365 * day}),
        );
        assert_eq!(rejected(&v, &mint(&claims)), AuthError::LifetimeTooLong);
        // Beyond what fits in an i64.
        let claims = with(cardholder(), json!({"exp": u64::MAX}));
        assert_eq!(rejected(&v, &mint(&claims)), AuthError::LifetimeTooLong);
    }

    #[test]
    fn lifetime_without_iat_is_counted_from_now() {
        let v = with_max_lifetime(3600);
        let claims = with(cardholder(), json!({"exp": now() + 3600}));
        assert!(v.verify(&mint(&claims)).is_ok());
        // The leeway covers an issuer clock a little ahead; more is refused.
        let claims = with(cardholder(), json!({"exp": now() + 3600 + 20}));
        assert!(v.verify(&mint(&claims)).is_ok());
        let claims = with(cardholder(), json!({"exp": now() + 3600 + 120}));
        assert_eq!(rejected(&v, &mint(&claims)), AuthError::LifetimeTooLong);
    }

    #[test]
    fn max_lifetime_is_configurable() {
        let v = with_max_lifetime(60);
        let claims = with(cardholder(), json!({"iat": now(), "exp": now() + 60}));
        assert!(v.verify(&mint(&claims)).is_ok());
        let claims = with(cardholder(), json!({"iat": now(), "exp": now() + 61}));
        let err = rejected(&v, &mint(&claims));
        assert_eq!(err, AuthError::LifetimeTooLong);
        assert_eq!(err.code(), "lifetime_too_long");
        let zero = Verifier::new(JwtSettings {
            max_lifetime: Duration::ZERO,
            ..settings(KeySource::Hs256Secret(SECRET.to_vec()))
        });
        assert!(matches!(zero, Err(AuthConfigError::ZeroDuration(_))));
    }

    #[test]
    fn iat_in_the_future_is_refused_beyond_the_leeway() {
        let v = hs256();
        let claims = with(cardholder(), json!({"iat": now() + 300}));
        let err = rejected(&v, &mint(&claims));
        assert_eq!(err, AuthError::IssuedInFuture);
        assert_eq!(err.code(), "issued_in_future");
        let claims = with(cardholder(), json!({"iat": now() + 10}));
        assert!(v.verify(&mint(&claims)).is_ok());
        let claims = with(cardholder(), json!({"iat": now() - 10}));
        assert!(v.verify(&mint(&claims)).is_ok());
        // Fractional NumericDates are read too.
        let claims = with(cardholder(), json!({"iat": (now() + 300) as f64 + 0.5}));
        assert_eq!(rejected(&v, &mint(&claims)), AuthError::IssuedInFuture);
    }

    // --- issuer and audience ------------------------------------------------------------------

    fn strict() -> Verifier {
        Verifier::new(JwtSettings {
            issuer: Some("https://login.example".into()),
            audience: Some("switchboard".into()),
            ..settings(KeySource::Hs256Secret(SECRET.to_vec()))
        })
        .expect("settings")
    }

    fn strict_claims() -> Value {
        with(
            cardholder(),
            json!({"iss": "https://login.example", "aud": "switchboard"}),
        )
    }

    #[test]
    fn missing_or_wrong_iss_rejected() {
        let v = strict();
        assert!(v.verify(&mint(&strict_claims())).is_ok());
        for iss in [json!(null), json!("https://evil.example")] {
            let claims = with(strict_claims(), json!({ "iss": iss }));
            assert_eq!(
                rejected(&v, &mint(&claims)),
                AuthError::WrongIssuer,
                "{iss}"
            );
        }
        // A number is not an issuer, and the message says so rather than "missing".
        let claims = with(strict_claims(), json!({"iss": 42}));
        assert_eq!(bad_claims(&v, &claims), "`iss` must be a string");
        // An array is not a valid `iss`, even one holding the right issuer.
        let claims = with(
            strict_claims(),
            json!({"iss": ["https://login.example", "x"]}),
        );
        assert!(v.verify(&mint(&claims)).is_err());
    }

    #[test]
    fn missing_or_wrong_aud_rejected() {
        let v = strict();
        for aud in [json!(null), json!("other-app"), json!(["a", "b"])] {
            let claims = with(strict_claims(), json!({ "aud": aud }));
            assert_eq!(
                rejected(&v, &mint(&claims)),
                AuthError::WrongAudience,
                "{aud}"
            );
        }
        for aud in [json!(7), json!({"a": 1})] {
            let claims = with(strict_claims(), json!({ "aud": aud }));
            assert!(bad_claims(&v, &claims).contains("`aud` must be"), "{aud}");
        }
    }

    // --- hub claims -------------------------------------------------------------------------

    #[test]
    fn sub_checked() {
        let v = hs256();
        for sub in [
            json!(null),
            json!(123),
            json!(""),
            json!("x".repeat(MAX_SUB_BYTES + 1)),
        ] {
            let claims = with(cardholder(), json!({ "sub": sub }));
            assert!(bad_claims(&v, &claims).contains("sub"));
        }
        let claims = with(cardholder(), json!({"sub": "a\nb"}));
        assert!(bad_claims(&v, &claims).contains("sub"));
    }

    #[test]
    fn unknown_or_missing_role_rejected() {
        let v = hs256();
        for role in [
            json!("admin"),
            json!("Agent"),
            json!(null),
            json!(["agent"]),
        ] {
            let claims = with(agent(), json!({ "role": role }));
            assert!(bad_claims(&v, &claims).contains("role"), "{role}");
        }
    }

    #[test]
    fn unknown_or_missing_tier_rejected() {
        let v = hs256();
        for tier in [json!("gold"), json!(null), json!(1), json!(["premium"])] {
            let claims = with(cardholder(), json!({ "tier": tier }));
            assert!(bad_claims(&v, &claims).contains("tier"), "{tier}");
        }
    }

    #[test]
    fn phone_last4_checked() {
        let v = hs256();
        for p in [
            json!("123"),
            json!("12345"),
            json!("12a4"),
            json!(1234),
            json!("١٢٣٤"),
        ] {
            let claims = with(cardholder(), json!({ "phone_last4": p }));
            assert!(bad_claims(&v, &claims).contains("phone_last4"), "{p}");
        }
    }

    #[test]
    fn agent_teams_checked() {
        let v = hs256();
        for teams in [
            json!(null),
            json!([]),
            json!("premium"),
            json!(["premium", "vip"]),
            json!([1]),
        ] {
            let claims = with(agent(), json!({ "teams": teams }));
            assert!(bad_claims(&v, &claims).contains("teams"), "{teams}");
        }
    }

    #[test]
    fn max_chats_checked() {
        let v = hs256();
        for m in [
            json!(0),
            json!(11),
            json!("3"),
            json!(3.5),
            json!(-1),
            json!(300),
        ] {
            let claims = with(agent(), json!({ "max_chats": m }));
            assert!(bad_claims(&v, &claims).contains("max_chats"), "{m}");
        }
        let claims = with(agent(), json!({"max_chats": 1}));
        assert!(v.verify(&mint(&claims)).is_ok());
    }

    #[test]
    fn name_checked() {
        let v = hs256();
        for name in [
            json!(5),
            json!("n".repeat(MAX_NAME_CHARS + 1)),
            json!("a\u{7}b"),
        ] {
            let claims = with(cardholder(), json!({ "name": name }));
            assert!(bad_claims(&v, &claims).contains("name"));
        }
        // An empty `name` is no name; one that is blank once cleaned is refused (SPEC,
        // "Identity": a name that is blank after cleaning is refused).
        let claims = with(cardholder(), json!({"name": ""}));
        assert_eq!(v.verify(&mint(&claims)).expect("valid").name, None);
        let claims = with(cardholder(), json!({"name": "   "}));
        assert!(bad_claims(&v, &claims).contains("`name` is blank"));
    }

    #[test]
    fn names_lose_invisible_characters_and_blank_names_are_refused() {
        let v = hs256();
        let claims = with(
            cardholder(),
            json!({"name": "\u{2067}Dana\u{061C}\u{E0041}\u{2069} \u{17B4}Card\u{180B}holder\u{3164}"}),
        );
        let id = v.verify(&mint(&claims)).expect("valid");
        assert_eq!(id.name.as_deref(), Some("Dana Cardholder"));
        // Emoji sequences stay whole.
        let claims = with(agent(), json!({"name": "Alex \u{1F469}\u{200D}\u{1F4BB}"}));
        let id = v.verify(&mint(&claims)).expect("valid");
        assert_eq!(id.name.as_deref(), Some("Alex \u{1F469}\u{200D}\u{1F4BB}"));
        for name in [
            "\u{3164}",
            "\u{3164}\u{3164}",
            "\u{115F}\u{1160}",
            "\u{FFA0}",
            "\u{2800}\u{2800}",
            " \u{2066}\u{2069} ",
            "\u{E0041}\u{E0042}\u{E007F}",
        ] {
            let claims = with(cardholder(), json!({ "name": name }));
            let msg = bad_claims(&v, &claims);
            assert!(msg.contains("`name` is blank"), "{name:?}: {msg}");
        }
    }

    // --- header members and duplicated claims (SPEC "Tokens (JWT)") ----------------------

    /// An HS256 token made of exactly these header and payload texts, signed with
    /// [`SECRET`].
    fn raw_hs256(header: &str, payload: &str) -> String {
        sign_hs256_raw(SECRET, header, payload)
    }

    #[test]
    fn keys_named_in_the_header_are_refused() {
        let v = hs256();
        let payload = cardholder().to_string();
        // The helper makes tokens the verifier accepts.
        let plain = raw_hs256(r#"{"alg":"HS256","typ":"JWT"}"#, &payload);
        assert!(v.verify(&plain).is_ok());
        for member in [
            r#""jku":"https://attacker.example/jwks.json""#,
            r#""x5u":"https://attacker.example/cert.pem""#,
            r#""jwk":{"kty":"oct","k":"c2VjcmV0"}"#,
            r#""x5c":["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtpc"]"#,
            r#""jku":null"#,
        ] {
            let header = format!(r#"{{"alg":"HS256","typ":"JWT",{member}}}"#);
            let err = rejected(&v, &raw_hs256(&header, &payload));
            assert_eq!(err.code(), "key_in_header", "{member}: {err:?}");
            let msg = err.client_message();
            assert!(msg.contains("key") && !msg.contains("attacker"), "{msg}");
        }
        // Even with a signature the configured key made: keys never come from a token.
        let key = EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).expect("test key");
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("rsa-1".into());
        header.jku = Some("https://attacker.example/jwks.json".into());
        let t = jsonwebtoken::encode(&header, &cardholder(), &key).expect("sign");
        assert_eq!(rejected(&jwks(), &t).code(), "key_in_header");
    }

    #[test]
    fn repeated_claims_are_refused() {
        let v = hs256();
        let header = r#"{"alg":"HS256","typ":"JWT"}"#;
        let exp = now() + 600;
        for payload in [
            // Two roles: which one wins must not be a parser detail.
            format!(
                r#"{{"sub":"u-1","role":"agent","teams":["standard"],"role":"cardholder","tier":"premium","exp":{exp}}}"#
            ),
            format!(
                r#"{{"sub":"u-1","sub":"u-2","role":"cardholder","tier":"premium","exp":{exp}}}"#
            ),
            format!(
                r#"{{"sub":"u-1","role":"cardholder","tier":"premium","exp":{exp},"exp":{}}}"#,
                exp + 99_999
            ),
            // The same name spelled with an escape is the same name.
            format!(
                r#"{{"sub":"u-1","role":"cardholder","\u0072ole":"agent","tier":"premium","exp":{exp}}}"#
            ),
            // Nested objects, where claims such as `cnf` live, too.
            format!(
                r#"{{"sub":"u-1","role":"cardholder","tier":"premium","exp":{exp},"cnf":{{"jkt":"a","jkt":"b"}}}}"#
            ),
        ] {
            let err = rejected(&v, &raw_hs256(header, &payload));
            assert_eq!(err.code(), "duplicate_claim", "{payload}: {err:?}");
            let msg = err.client_message();
            assert!(msg.contains("more than once"), "{msg}");
            assert!(!msg.contains("u-1") && !msg.contains("agent"), "{msg}");
        }
        // A header that repeats a member is malformed.
        let payload = cardholder().to_string();
        let err = rejected(&v, &raw_hs256(r#"{"alg":"HS256","alg":"HS256"}"#, &payload));
        assert_eq!(err, AuthError::Malformed);
        // Arrays may repeat values; only object members are names.
        let claims = with(agent(), json!({"teams": ["standard", "standard"]}));
        assert!(v.verify(&mint(&claims)).is_ok());
    }

    #[test]
    fn error_messages_never_echo_the_token_or_claims() {
        let claims = with(cardholder(), json!({"tier": "secret-tier-value"}));
        let token = mint(&claims);
        let err = rejected(&hs256(), &token);
        assert!(!err.client_message().contains("secret-tier-value"));
        assert!(!err.client_message().contains(&token));
        assert_eq!(err.code(), "bad_claims");
    }

    // --- JWKS -------------------------------------------------------------------------------

    #[test]
    fn jwks_unknown_or_missing_kid_rejected() {
        let v = jwks();
        let t = sign(Algorithm::RS256, Some("rsa-2"), &cardholder());
        assert_eq!(rejected(&v, &t), AuthError::UnknownKey);
        let t = sign(Algorithm::RS256, None, &cardholder());
        assert_eq!(rejected(&v, &t), AuthError::UnknownKey);
        // The `oct` key of the document is never used as an HMAC secret.
        let t = sign(Algorithm::HS256, Some("hmac-1"), &cardholder());
        assert_eq!(rejected(&v, &t), AuthError::UnknownKey);
    }

    #[test]
    fn jwks_key_fixes_the_algorithm() {
        let v = jwks();
        let t = sign(Algorithm::ES256, Some("rsa-1"), &cardholder());
        assert_eq!(rejected(&v, &t), AuthError::WrongAlgorithm);
        let t = sign(Algorithm::HS256, Some("ec-1"), &cardholder());
        assert_eq!(rejected(&v, &t), AuthError::WrongAlgorithm);
        // Right kid and algorithm, but a signature that key did not make.
        let t = sign(Algorithm::RS256, Some("rsa-1"), &cardholder());
        let forged = format!("{}.{}", &t[..t.rfind('.').expect("dot")], "AAAA");
        assert_eq!(rejected(&v, &forged), AuthError::BadSignature);
    }

    // --- configuration ----------------------------------------------------------------------

    fn config_error(keys: KeySource) -> AuthConfigError {
        Verifier::new(settings(keys)).expect_err("config must be rejected")
    }

    #[test]
    fn bad_configuration_rejected() {
        assert_eq!(
            config_error(KeySource::Hs256Secret(Vec::new())),
            AuthConfigError::EmptySecret
        );
        for pem in [
            "not a pem",
            RSA_PRIVATE_PEM,
            EC_PRIVATE_PEM,
            EC_P384_PUBLIC_PEM,
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        ] {
            let err = config_error(KeySource::PublicKeyPem(pem.into()));
            assert!(matches!(err, AuthConfigError::BadPublicKey(_)), "{err}");
        }
        for doc in [
            "not json",
            "{}",
            r#"{"keys":[]}"#,
            r#"{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}"#,
            r#"{"keys":[{"kty":"RSA","kid":"r","e":"AQAB","n":"AQAB"}]}"#,
            r#"{"keys":[{"kty":"EC","kid":"e","crv":"P-256","x":"AAAA","y":"AAAA"}]}"#,
        ] {
            let err = config_error(KeySource::Jwks(doc.into()));
            assert!(matches!(err, AuthConfigError::BadJwks(_)), "{doc}: {err}");
        }
        let dup = JWKS.replace("\"ec-1\"", "\"rsa-1\"");
        assert!(matches!(
            config_error(KeySource::Jwks(dup)),
            AuthConfigError::BadJwks(_)
        ));
        let empty_iss = Verifier::new(JwtSettings {
            issuer: Some(String::new()),
            ..settings(KeySource::Hs256Secret(SECRET.to_vec()))
        });
        assert_eq!(
            empty_iss.expect_err("empty issuer"),
            AuthConfigError::EmptySetting("issuer")
        );
    }

    #[test]
    fn debug_never_prints_secrets() {
        let shown = format!("{:?}", hs256());
        assert!(shown.contains("HS256"));
        assert!(!shown.contains("test-secret"));
        let shown = format!("{:?}", KeySource::Hs256Secret(SECRET.to_vec()));
        assert!(!shown.contains("test-secret"));
        assert!(format!("{:?}", jwks()).contains("rsa-1: RS256"));
    }

    #[test]
    fn verifier_is_shareable() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Verifier>();
    }

    #[test]
    fn mint_refuses_empty_secret_and_non_objects() {
        assert!(matches!(
            mint_hs256(b"", &cardholder()),
            Err(AuthError::Mint(_))
        ));
        assert!(matches!(
            mint_hs256(SECRET, &json!("x")),
            Err(AuthError::Mint(_))
        ));
    }
}
