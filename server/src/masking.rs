//! Card numbers and US Social Security numbers masked out of message text.
//!
//! Every message, from a cardholder or an agent, goes through [`mask_sensitive`]
//! before it is stored or delivered (SPEC, "Sensitive data"). The rules:
//!
//! - **Card numbers**: 13–19 ASCII digits, optionally grouped by single spaces
//!   or dashes, passing the Luhn check ([`luhn_valid`]). Each becomes
//!   [`CARD_MASK`] followed by its last four digits, whatever grouping was
//!   typed: `4111-1111-1111-1111` → `**** **** **** 1111`. The mask has the same
//!   shape for every length, so it does not reveal how long the number was.
//! - **SSNs**: exactly `NNN-NN-NNNN` (dashes), standing alone, becomes
//!   [`SSN_MASK`] (`***-**-****`). Nothing of it is kept.
//! - Everything else stays as typed: digit runs that fail the Luhn check (order
//!   numbers, phone numbers such as `555-123-4567`), 12-digit and shorter
//!   numbers, and unbroken runs of 20 or more digits (account or reference
//!   numbers; a card is never that long).
//!
//! When the digits are grouped (`4111 1111 1111 1111 0127`), consecutive groups
//! that together form a Luhn-valid card are masked even if more groups follow,
//! so a card typed next to an expiry date or an order number is still caught.
//! An unbroken digit run is taken as a whole or not at all.
//!
//! Masking is applied until nothing more changes, so it is idempotent:
//! `mask_sensitive(mask_sensitive(x)) == mask_sensitive(x)`. Text with nothing
//! to mask (most messages) is returned borrowed, without a copy.
//!
//! This module only sees text; it never logs it.

use std::borrow::Cow;
use std::ops::Range;

/// What replaces all but the last four digits of a card number.
pub const CARD_MASK: &str = "**** **** **** ";

/// What replaces a whole SSN.
pub const SSN_MASK: &str = "***-**-****";

/// Fewest digits a card number has (ISO/IEC 7812 allows 8, but issuers' PANs start at 13).
const CARD_MIN_DIGITS: usize = 13;

/// Most digits a card number has.
const CARD_MAX_DIGITS: usize = 19;

/// How many trailing digits of a card stay visible.
const CARD_KEPT_DIGITS: usize = 4;

/// Masks card numbers (keeping the last four digits) and SSNs in `text`.
///
/// See the [module docs](self) for the exact rules. Returns
/// [`Cow::Borrowed`] when nothing was masked.
///
/// ```
/// use switchboard::masking::mask_sensitive;
/// assert_eq!(mask_sensitive("card 4111 1111 1111 1111 please"), "card **** **** **** 1111 please");
/// assert_eq!(mask_sensitive("ssn 123-45-6789"), "ssn ***-**-****");
/// assert_eq!(mask_sensitive("call 555-123-4567, order 123456789012"), "call 555-123-4567, order 123456789012");
/// ```
pub fn mask_sensitive(text: &str) -> Cow<'_, str> {
    // Hot path: a message without a digit has nothing to mask.
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return Cow::Borrowed(text);
    }
    let mut current = Cow::Borrowed(text);
    // Each pass that changes anything removes at least nine digits, so this
    // ends; looping to a fixed point is what makes masking idempotent (the kept
    // last four of one card cannot combine with neighbouring digits later).
    while let Some(next) = mask_pass(&current) {
        current = Cow::Owned(next);
    }
    current
}

/// Whether `digits` passes the Luhn (mod 10) check used by card numbers.
///
/// Spaces and dashes are ignored; any other character, or no digit at all,
/// makes it `false`. Length is not checked here.
///
/// ```
/// use switchboard::masking::luhn_valid;
/// assert!(luhn_valid("4111 1111 1111 1111"));
/// assert!(!luhn_valid("4111 1111 1111 1112"));
/// assert!(!luhn_valid("41x1"));
/// ```
pub fn luhn_valid(digits: &str) -> bool {
    let bytes = digits.as_bytes();
    if bytes
        .iter()
        .any(|&b| !(b.is_ascii_digit() || b == b' ' || b == b'-'))
    {
        return false;
    }
    let mut count = 0usize;
    let sum = luhn_sum(
        bytes
            .iter()
            .rev()
            .filter(|b| b.is_ascii_digit())
            .inspect(|_| count += 1)
            .copied(),
    );
    count > 0 && sum % 10 == 0
}

/// The Luhn sum of ASCII digits given right to left.
fn luhn_sum(rightmost_first: impl Iterator<Item = u8>) -> u32 {
    rightmost_first
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 {
                    twice - 9
                } else {
                    twice
                }
            } else {
                d
            }
        })
        .sum()
}

/// One masking pass: cards first, then SSNs. `None` when nothing changed.
fn mask_pass(text: &str) -> Option<String> {
    let cards = mask_cards(text);
    let after_cards = cards.as_deref().unwrap_or(text);
    mask_ssns(after_cards).or(cards)
}

/// A run of digit groups, each group a byte range of ASCII digits, consecutive
/// groups joined by exactly one separator byte.
fn digit_runs(text: &str, is_separator: fn(u8) -> bool) -> Vec<Vec<Range<usize>>> {
    let bytes = text.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut groups = Vec::new();
        loop {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            groups.push(start..i);
            let joined =
                i + 1 < bytes.len() && is_separator(bytes[i]) && bytes[i + 1].is_ascii_digit();
            if !joined {
                break;
            }
            i += 1;
        }
        runs.push(groups);
    }
    runs
}

/// Card separators: a space or a dash.
fn is_card_separator(b: u8) -> bool {
    b == b' ' || b == b'-'
}

/// Masks every card number in `text`; `None` when there was none.
fn mask_cards(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    // (byte range to replace, last four digits)
    let mut found: Vec<(Range<usize>, [u8; CARD_KEPT_DIGITS])> = Vec::new();
    for groups in digit_runs(text, is_card_separator) {
        let mut i = 0;
        while i < groups.len() {
            match longest_card_from(bytes, &groups[i..]) {
                Some((len, last4)) => {
                    found.push((groups[i].start..groups[i + len - 1].end, last4));
                    i += len;
                }
                None => i += 1,
            }
        }
    }
    if found.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, last4) in found {
        out.push_str(&text[at..range.start]);
        out.push_str(CARD_MASK);
        out.extend(last4.iter().map(|&b| char::from(b)));
        at = range.end;
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// The longest prefix of `groups` (in groups) whose digits form a card number,
/// with that card's last four digits.
fn longest_card_from(
    bytes: &[u8],
    groups: &[Range<usize>],
) -> Option<(usize, [u8; CARD_KEPT_DIGITS])> {
    let mut digits = 0;
    let mut best = None;
    for (n, group) in groups.iter().enumerate() {
        digits += group.len();
        if digits > CARD_MAX_DIGITS {
            break;
        }
        if digits < CARD_MIN_DIGITS {
            continue;
        }
        let candidate = || {
            groups[..=n]
                .iter()
                .rev()
                .flat_map(|g| bytes[g.clone()].iter().rev().copied())
        };
        if luhn_sum(candidate()) % 10 == 0 {
            let mut last4 = [b'0'; CARD_KEPT_DIGITS];
            for (slot, b) in last4.iter_mut().rev().zip(candidate()) {
                *slot = b;
            }
            best = Some((n + 1, last4));
        }
    }
    best
}

/// Masks every `NNN-NN-NNNN` standing alone (no further dash-joined digits);
/// `None` when there was none.
fn mask_ssns(text: &str) -> Option<String> {
    let mut out: Option<String> = None;
    let mut at = 0;
    for groups in digit_runs(text, |b| b == b'-') {
        let shape: Vec<usize> = groups.iter().map(ExactSizeIterator::len).collect();
        if shape != [3, 2, 4] {
            continue;
        }
        let (start, end) = (groups[0].start, groups[2].end);
        let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
        buf.push_str(&text[at..start]);
        buf.push_str(SSN_MASK);
        at = end;
    }
    let mut out = out?;
    out.push_str(&text[at..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn masks_common_card_layouts_keeping_last_four() {
        for typed in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "4111 1111-1111 1111",
            "3782 822463 10005",       // Amex, 15 digits
            "4222222222222",           // 13 digits
            "6011 0009 9013 9424",     // Discover
            "5555 5555 5555 4444",     // Mastercard
            "6250941006528599",        // UnionPay 16
            "4000 0000 0000 0000 006", // 19 digits
        ] {
            let digits: String = typed.chars().filter(char::is_ascii_digit).collect();
            assert!(luhn_valid(&digits), "{typed} should be Luhn-valid");
            let last4 = &digits[digits.len() - 4..];
            let text = format!("my card is {typed}, thanks");
            assert_eq!(
                mask_sensitive(&text),
                format!("my card is {CARD_MASK}{last4}, thanks"),
                "{typed}"
            );
        }
    }

    #[test]
    fn leaves_non_cards_alone() {
        for text in [
            "order 123456789012",      // 12 digits
            "call me on 555-123-4567", // phone, not an SSN
            "or +1 (555) 123 4567",
            "ref 41111111111111111111", // 20 digits unbroken
            "4111 1111 1111 1112",      // fails Luhn
            "amount $1,234.56 on 2024-05-01",
            "tracking 1Z999AA10123456784",
            "123-456-7890 and 12-345-6789",
            "1234-56-7890",
            "123-45-67890",
            "0123-45-6789",
        ] {
            assert!(matches!(mask_sensitive(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn card_next_to_other_digit_groups_is_still_masked() {
        assert_eq!(
            mask_sensitive("4111 1111 1111 1111 0127 cvv 123"),
            "**** **** **** 1111 0127 cvv 123"
        );
        assert_eq!(
            mask_sensitive("cards 4111111111111111 and 5555-5555-5555-4444."),
            "cards **** **** **** 1111 and **** **** **** 4444."
        );
    }

    #[test]
    fn masks_ssns_only_in_their_exact_shape() {
        assert_eq!(mask_sensitive("SSN: 123-45-6789."), "SSN: ***-**-****.");
        assert_eq!(mask_sensitive("123-45-6789"), "***-**-****");
        assert_eq!(mask_sensitive("a123-45-6789b"), "a***-**-****b");
        assert_eq!(mask_sensitive("123 45 6789"), "123 45 6789");
        assert_eq!(mask_sensitive("1-123-45-6789"), "1-123-45-6789");
        assert_eq!(mask_sensitive("123-45-6789-1"), "123-45-6789-1");
        assert_eq!(
            mask_sensitive("ssn 123-45-6789 card 4111 1111 1111 1111"),
            "ssn ***-**-**** card **** **** **** 1111"
        );
    }

    #[test]
    fn examples_in_docs_escalation_md() {
        for (typed, shown) in [
            ("4111 1111 1111 1111", "**** **** **** 1111"),
            ("4111-1111-1111-1111", "**** **** **** 1111"),
            ("4111111111111111", "**** **** **** 1111"),
            ("3782 822463 10005", "**** **** **** 0005"),
            ("4111 1111 1111 1111 0127", "**** **** **** 1111 0127"),
            ("123-45-6789", "***-**-****"),
            ("555-123-4567", "555-123-4567"),
            ("order 123456789012", "order 123456789012"),
            ("4111 1111 1111 1112", "4111 1111 1111 1112"),
            ("123456789", "123456789"),
            ("123 45 6789", "123 45 6789"),
        ] {
            assert_eq!(mask_sensitive(typed), shown, "{typed}");
        }
    }

    #[test]
    fn twenty_digit_luhn_valid_run_is_not_a_card() {
        let run = "41111111111111111115";
        assert!(luhn_valid(run));
        assert_eq!(mask_sensitive(run), run);
    }

    #[test]
    fn text_without_digits_is_borrowed() {
        let text = "I can't log in — café ☕";
        let masked = mask_sensitive(text);
        assert!(matches!(masked, Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn kept_digits_next_to_more_digits_stay_stable() {
        // The kept "1111" plus the following groups happen to form another
        // Luhn-valid number; the fixed point masks it too, and stays there.
        let once = mask_sensitive("4111 1111 1111 1111 2222 2222 2222 1");
        let twice = mask_sensitive(&once);
        assert_eq!(once, twice);
    }

    #[test]
    fn luhn_rejects_non_digits_and_empty() {
        assert!(!luhn_valid(""));
        assert!(!luhn_valid(" - "));
        assert!(!luhn_valid("4111 1111 1111 111a"));
        assert!(!luhn_valid("٤١١١")); // Arabic-Indic digits are not card digits
        assert!(luhn_valid("0"));
        assert!(luhn_valid("79927398713"));
    }

    /// A Luhn-valid number of 13–19 digits.
    fn card_digits() -> impl Strategy<Value = String> {
        (12usize..=18).prop_flat_map(|body_len| {
            proptest::collection::vec(0u8..10, body_len).prop_map(|body| {
                let mut digits: Vec<u8> = body.iter().map(|d| b'0' + d).collect();
                digits.push(b'0');
                let sum = luhn_sum(digits.iter().rev().copied());
                if let Some(last) = digits.last_mut() {
                    *last = b'0' + u8::try_from((10 - sum % 10) % 10).unwrap_or(0);
                }
                String::from_utf8(digits).unwrap_or_default()
            })
        })
    }

    /// `digits` with a random space, dash or nothing between each pair.
    fn grouped(digits: String) -> impl Strategy<Value = (String, String)> {
        let gaps = digits.len().saturating_sub(1);
        proptest::collection::vec(
            prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("-")],
            gaps,
        )
        .prop_map(move |seps| {
            let mut typed = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 {
                    typed.push_str(seps[i - 1]);
                }
                typed.push(c);
            }
            (digits.clone(), typed)
        })
    }

    /// Arbitrary text without ASCII digits (it may contain spaces and dashes).
    fn digitless() -> &'static str {
        "[^0-9]{0,30}"
    }

    proptest! {
        #[test]
        fn any_card_in_text_is_masked(
            (digits, typed) in card_digits().prop_flat_map(grouped),
            before in digitless(),
            after in digitless(),
        ) {
            let text = format!("{before} {typed} {after}");
            let masked = mask_sensitive(&text);
            let last4 = &digits[digits.len() - 4..];
            prop_assert!(!masked.contains(typed.as_str()));
            let masked_digits: String = masked.chars().filter(char::is_ascii_digit).collect();
            prop_assert!(!masked_digits.contains(digits.as_str()));
            prop_assert_eq!(masked.as_ref(), format!("{before} {CARD_MASK}{last4} {after}"));
        }

        #[test]
        fn non_luhn_runs_are_unchanged(
            run in "[0-9]{1,30}",
            before in digitless(),
            after in digitless(),
        ) {
            prop_assume!(!((CARD_MIN_DIGITS..=CARD_MAX_DIGITS).contains(&run.len()) && luhn_valid(&run)));
            let text = format!("{before} {run} {after}");
            prop_assert_eq!(mask_sensitive(&text), text.as_str());
        }

        #[test]
        fn phone_numbers_are_unchanged(
            phone in "[2-9][0-9]{2}-[0-9]{3}-[0-9]{4}|\\([0-9]{3}\\) [0-9]{3}-[0-9]{4}|\\+1 [0-9]{3} [0-9]{3} [0-9]{4}",
        ) {
            let text = format!("call me at {phone} tonight");
            prop_assert_eq!(mask_sensitive(&text), text.as_str());
        }

        #[test]
        fn text_without_digits_is_borrowed_and_unchanged(text in "[^0-9]*") {
            let masked = mask_sensitive(&text);
            prop_assert!(matches!(masked, Cow::Borrowed(t) if t == text));
        }

        #[test]
        fn masking_is_idempotent(text in "([0-9]{1,6}|[ -]|\\PC{0,3}){0,40}") {
            let once = mask_sensitive(&text);
            let twice = mask_sensitive(&once);
            prop_assert_eq!(once.as_ref(), twice.as_ref());
        }

        #[test]
        fn never_panics_on_any_unicode(text in "\\PC*") {
            let masked = mask_sensitive(&text);
            let digits = |t: &str| t.bytes().filter(u8::is_ascii_digit).count();
            prop_assert!(digits(&masked) <= digits(&text));
        }

        #[test]
        fn ssns_are_fully_masked(
            ssn in "[0-9]{3}-[0-9]{2}-[0-9]{4}",
            before in digitless(),
            after in digitless(),
        ) {
            let text = format!("{before} {ssn} {after}");
            let masked = mask_sensitive(&text);
            prop_assert_eq!(masked.as_ref(), format!("{before} {SSN_MASK} {after}"));
        }
    }
}
