//! The hub's vocabulary: card tiers, teams and desks, topics, ids and the
//! small value types every other module speaks in.
//!
//! Everything here is validated at the edge (`FromStr`/serde) so that the rest
//! of the hub never sees a tier or a topic it does not know. The vocabulary
//! is named from here (`domain::Tier`, `domain::UserId`, `domain::Millis`) and
//! kept in three files: `names` (tiers, teams, desks, topics, roles, statuses,
//! reasons, `TierBoosts`), `ids` (user, conversation and callback ids, client
//! keys, `Seq`) and `clock` (`Millis`, the wall clock, RFC 3339).
//!
//! The records built from them live in one file per area, below everything
//! else in the crate (they name nothing above `domain`):
//! [`conversation`] (a conversation, its entries, hand-overs, notes, rating,
//! history summaries), [`callback`] (callback requests and their calls),
//! [`archive`] (what the archive keeps), [`audit`] (supervisor actions),
//! [`queue`] (queue depth, a waiting cardholder's availability), [`inbox`]
//! (secure-message inbox items), [`canned`] (canned replies).

pub mod archive;
pub mod audit;
pub mod callback;
pub mod canned;
mod clock;
pub mod conversation;
mod ids;
pub mod inbox;
mod names;
pub mod queue;

pub use clock::{millis_of_rfc3339, now_millis, rfc3339, Millis};
pub use ids::*;
pub use names::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_parses_tiers_and_desks() {
        assert_eq!(
            "premium".parse::<Team>().ok(),
            Some(Team::Tier(Tier::Premium))
        );
        assert_eq!("fraud".parse::<Team>().ok(), Some(Team::Desk(Desk::Fraud)));
        assert!("gold".parse::<Team>().is_err());
    }

    #[test]
    fn boosts_parse_and_keep_defaults() {
        let b: TierBoosts = "premium=30".parse().expect("valid");
        assert_eq!(b.millis(Tier::Premium), 30_000);
        assert_eq!(b.millis(Tier::Business), 60_000);
        assert!("gold=1".parse::<TierBoosts>().is_err());
        assert!("premium=x".parse::<TierBoosts>().is_err());
    }

    /// Ids the hub never issues, whatever the kind: separators and
    /// wildcards that would name another key, nothing, too long, unicode.
    const NEVER_ISSUED: &[&str] = &["", "*", "?", ":", " ", "\n", "\u{0}", "é", "٣"];

    #[test]
    fn conversation_ids_parse_exactly_as_the_hub_issues_them() {
        for issued in [
            ConversationId::generate(),
            ConversationId::for_client_key(&"alice".into(), "k-1"),
        ] {
            assert_eq!(ConversationId::parse(issued.as_str()), Ok(issued.clone()));
            assert_eq!(issued.as_str().parse::<ConversationId>(), Ok(issued));
        }
        let real = "c-9f1c2e7a4b5d4e0f8a6b3c2d1e0f9a8b";
        assert!(ConversationId::parse(real).is_ok());
        let refused = [
            format!("{real}:monitors"),
            format!("{real}:*"),
            format!("{real}0"),
            real[..real.len() - 1].to_owned(),
            real.to_uppercase(),
            format!("c-{}", real[2..].to_uppercase()),
            format!("C-{}", &real[2..]),
            format!("x-{}", &real[2..]),
            format!("c-{}g", &real[2..33]),
            format!("c-{}é", &real[2..33]),
            format!("c-{}٣", &real[2..33]),
            format!(" {real}"),
            format!("{real}\n"),
            "c-".into(),
            "c1".into(),
            "c-1".into(),
            format!("c-{}", "a".repeat(4000)),
        ];
        for bad in refused
            .iter()
            .map(String::as_str)
            .chain(NEVER_ISSUED.iter().copied())
        {
            assert_eq!(
                ConversationId::parse(bad),
                Err(ConversationId::SHAPE),
                "{bad:?}"
            );
        }
        assert!(!ConversationId::SHAPE.to_string().contains(real));
    }

    #[test]
    fn callback_refs_parse_exactly_as_the_hub_issues_them() {
        for desk in Desk::ALL {
            for n in [0, 42, 999_999] {
                let issued = CallbackRef::numbered(*desk, n);
                assert_eq!(CallbackRef::parse(issued.as_str()), Ok(issued));
            }
        }
        assert_eq!(
            CallbackRef::numbered(Desk::Fraud, 4211).as_str(),
            "FR-004211"
        );
        let refused = [
            "ID-482913:monitors",
            "ID-482913*",
            "ID-4829130",
            "ID-48291",
            "id-482913",
            "Id-482913",
            "XX-482913",
            "CB-1",
            "ID-48291a",
            "ID-48291٣",
            "ID-+48291",
            "ID-482913 ",
            "ID482913",
        ];
        for bad in refused.iter().chain(NEVER_ISSUED) {
            assert_eq!(CallbackRef::parse(bad), Err(CallbackRef::SHAPE), "{bad:?}");
        }
    }

    #[test]
    fn client_keys_are_1_to_64_of_letters_digits_dash_underscore() {
        let uuid = uuid::Uuid::new_v4().to_string();
        let accepted = [
            "a1",
            "k",
            "m-7f3a",
            "t-8c1f",
            "a_0001",
            "lt-c-12-1700000000000",
            "x3lk2ja0b9c8d7",
            uuid.as_str(),
        ];
        for ok in accepted {
            assert_eq!(ClientKey::parse(ok).map(String::from), Ok(ok.to_owned()));
        }
        let max = "k".repeat(ClientKey::MAX_LEN);
        assert!(ClientKey::parse(&max).is_ok());
        let refused = [
            "k".repeat(ClientKey::MAX_LEN + 1),
            "a:b".into(),
            "lt:c:1:2".into(),
            "k 1".into(),
            "k\t".into(),
            "k.1".into(),
            "k/1".into(),
            "{k}".into(),
            "ké".into(),
        ];
        for bad in refused
            .iter()
            .map(String::as_str)
            .chain(NEVER_ISSUED.iter().copied())
        {
            assert_eq!(ClientKey::parse(bad), Err(ClientKey::SHAPE), "{bad:?}");
        }
        // Serde goes through the same parser.
        assert!(serde_json::from_str::<ClientKey>("\"a:b\"").is_err());
        let k: ClientKey = serde_json::from_str("\"m-1\"").expect("valid");
        assert_eq!(serde_json::to_string(&k).expect("json"), "\"m-1\"");
    }

    #[test]
    fn ids_read_back_from_the_store_are_trusted_as_they_are() {
        // The hub's own records deserialise without the client checks, so
        // whatever a store holds never fails (or panics) on the way out.
        let id: ConversationId = serde_json::from_str("\"c1\"").expect("trusted");
        assert_eq!(id, ConversationId("c1".into()));
        let r: CallbackRef = serde_json::from_str("\"CB-1\"").expect("trusted");
        assert_eq!(r.as_str(), "CB-1");
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
