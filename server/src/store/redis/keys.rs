//! How user ids become parts of Redis keys and presence members.
//!
//! A `sub` is whatever the issuer's login system put in the token (1–128
//! bytes): it may hold `:`, `*`, `{`, spaces. Every user-supplied part of a
//! key is percent-encoded here, and only here, before it reaches a script:
//! an encoded id holds nothing but ASCII letters, digits, `-`, `_`, `.`,
//! `@` and `%XX`, so `agv-x:convs` can never name agent `agv-x`'s chat set.
//! Scripts store and compare encoded ids and never encode anything
//! themselves; decoding happens when a record is read back.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::domain::{Desk, Tier, UserId};
use crate::events::Audience;

/// Bytes left readable in an encoded id; everything else becomes `%XX`.
const KEY_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'@');

/// A user id as it appears in keys, hash fields and presence members.
pub fn encode(user: &UserId) -> String {
    utf8_percent_encode(user.as_str(), KEY_SAFE).to_string()
}

/// The user id an encoded id stands for.
pub fn decode(encoded: &str) -> UserId {
    UserId(percent_decode_str(encoded).decode_utf8_lossy().into_owned())
}

/// The presence member of an audience: `c:<id>`, `a:<id>`, `s:<id>`, `d:<desk>`.
pub fn member(audience: &Audience) -> String {
    match audience {
        Audience::Cardholder(u) => format!("c:{}", encode(u)),
        Audience::Agent(u) => format!("a:{}", encode(u)),
        Audience::Supervisor(u) => format!("s:{}", encode(u)),
        Audience::Desk(d) => format!("d:{d}"),
        Audience::Inbox(t) => format!("i:{t}"),
    }
}

/// The audience a presence member names (`None` for a malformed one).
pub fn audience(member: &str) -> Option<Audience> {
    let (kind, rest) = member.split_once(':')?;
    Some(match kind {
        "c" => Audience::Cardholder(decode(rest)),
        "a" => Audience::Agent(decode(rest)),
        "s" => Audience::Supervisor(decode(rest)),
        "d" => Audience::Desk(rest.parse::<Desk>().ok()?),
        "i" => Audience::Inbox(rest.parse::<Tier>().ok()?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_ids_hold_no_key_syntax_and_round_trip() {
        for sub in [
            "agv-x:convs",
            "a*b",
            "{tag}",
            "with space",
            "%3A",
            "ünï",
            "x\u{7f}",
        ] {
            let user = UserId::from(sub);
            let e = encode(&user);
            assert!(
                e.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.@%".contains(&b)),
                "{e}"
            );
            assert_eq!(decode(&e), user);
        }
        assert_ne!(encode(&"a:b".into()), encode(&"a%3Ab".into()));
    }

    #[test]
    fn members_name_role_and_id() {
        for a in [
            Audience::Cardholder("x:y".into()),
            Audience::Agent("x".into()),
            Audience::Supervisor("x".into()),
            Audience::Desk(Desk::Fraud),
        ] {
            assert_eq!(audience(&member(&a)), Some(a));
        }
        assert_eq!(audience("z:1"), None);
    }
}
