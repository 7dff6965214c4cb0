//! Card numbers and US Social Security numbers masked out of typed text.
//!
//! Every text a person typed (messages from cardholders and agents,
//! escalation notes, secure messages, rating comments) goes through
//! [`mask_sensitive`] before it is stored or delivered (SPEC, "Sensitive
//! data", PCI DSS 3.4.1). Numbers are read as people type them, not as a
//! regex is written.
//!
//! # What is a digit, what joins digits
//!
//! - A **digit** is any character whose NFKC form is one Unicode decimal
//!   digit (category Nd): ASCII `0`–`9`, fullwidth `０`–`９`, Arabic-Indic
//!   `٠`–`٩`, Extended Arabic-Indic `۰`–`۹`, Devanagari `०`–`९`, every other
//!   script's digits, and compatibility forms such as `¹` or `①`.
//! - A **separator** is whitespace (spaces, tabs, newlines, NBSP…), `.`, `-`,
//!   `/`, `_`, the Unicode dashes and hyphens (U+2010–U+2015, U+2212, U+FE58,
//!   U+FE63, U+FF0D), the compatibility forms of `.` `/` `_` `-` (fullwidth,
//!   small), and every invisible character [`crate::text`] removes
//!   (zero-width U+200B–U+200D, U+2060, BOM U+FEFF, bidi controls, soft hyphen).
//! - A **run** is a stretch of digits where any number of separators may
//!   stand between two digits; the digits between two separator stretches
//!   form a **group**. `4111 1111.1111\u{200B}1111` is one run of four groups;
//!   any other character (a letter, `,`, `:`, `(`, `+`, `*`) ends a run.
//!
//! # Card numbers
//!
//! A card number is a window of 13–19 consecutive digits of a run that passes
//! the Luhn check ([`luhn_valid`]), where each end of the window
//!
//! - falls between two groups (or at the run's ends), or
//! - cuts into a group of 20 or more digits (no card fills one, so a card
//!   typed straight into a longer number is still found anywhere in it), or,
//!   for the window's *end* only: cuts a group leaving 3 or 4 of its digits
//!   after the window and taking at least 3 into it (an expiry date or CVV
//!   typed straight after the card: `4111111111111111123`).
//!
//! Overlapping card windows are merged into one stretch, so every digit of
//! every window is masked. The card shown for a stretch is its most card-like
//! window: whole groups first, then a card with a glued tail, then one inside
//! a long number; the longer, then the leftmost, among equals. The stretch
//! becomes [`CARD_MASK`] followed by that card's last four digits, as typed,
//! then one `*` per digit of the stretch after the card (a space before
//! them): `4111.1111.1111.1111` → `**** **** **** 1111`, and
//! `4111 1111 1111 1111 0127` → `**** **** **** 1111 ****` because
//! `1111 1111 1111 0127` passes the Luhn check too. The mask has the same
//! shape for every card length and grouping.
//!
//! # SSNs
//!
//! Found after the cards (in the text with cards masked), replaced whole by
//! [`SSN_MASK`], nothing kept:
//!
//! - three consecutive groups of 3, 2 and 4 digits (`123-45-6789`,
//!   `123 45 6789`, `123.45.6789`, `１２３–４５–６７８９`);
//! - a group of exactly 9 digits when the text names an SSN (the word `ssn`
//!   or `ssns`, or `social security`, in any case).
//!
//! Either stands alone: a neighbouring group in the same run must be parted
//! from it by whitespace, so `1-123-45-6789` (a 1-3-2-4 number) stays.
//!
//! # What stays as typed
//!
//! Numbers of 12 digits or fewer (phone numbers such as `+1 (555) 123-4567`
//! or `555-123-4567`, dates `12/25` and `2026-12-02`, times, amounts
//! `$1,234.56`, short codes), and longer numbers where no window above passes
//! the Luhn check. About one card-length window in ten passes it by chance,
//! so now and then an order or reference number of 13 digits or more is
//! masked too: that is the safe side to err on.
//!
//! # Properties
//!
//! Masking is applied until nothing more changes, so it is idempotent:
//! `mask_sensitive(mask_sensitive(x)) == mask_sensitive(x)`. A text with
//! fewer than nine digits (most messages) is returned borrowed, without a
//! copy or an allocation.
//!
//! # A number split over two messages
//!
//! [`mask_across`] takes the stored text of an author's previous entry and
//! their new text. It masks the two as if they were one text, joined by a
//! line break, and reports [`SplitMasking`] when that finds a card number or
//! SSN neither text holds alone (`4111 1111` then `1111 1111`, or `my ssn is`
//! then `123456789`). A card cut in two leaves its mask in the earlier entry
//! (`**** **** ****`) and its last four digits in the new one. The hub calls it
//! for each new message whose previous transcript entry has the same author:
//!
//! ```
//! use switchboard::masking::{mask_across, mask_sensitive};
//! let stored = mask_sensitive("my card is 4111 1111").into_owned();
//! let new = mask_sensitive("1111 1111 thanks");
//! let split = mask_across(&stored, &new).expect("split card");
//! assert_eq!(split.previous.as_deref(), Some("my card is **** **** ****"));
//! assert_eq!(split.current, "1111 thanks");
//! ```
//!
//! A number spread over three messages or more is not caught.
//!
//! This module only sees text; it never logs it. It is pure: the hub decides
//! which texts to mask and what to store.

use std::borrow::Cow;
use std::ops::Range;

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::text::is_invisible;

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

/// Digits an expiry date (MMYY) or CVV typed straight after a card adds.
const GLUED_TAIL_DIGITS: Range<usize> = 3..5;

/// Fewest digits a window must take from a group it cuts before a glued tail.
const GLUED_MIN_TAKEN: usize = 3;

/// Digits in an SSN; a text with fewer digits has nothing to mask.
const SSN_DIGITS: usize = 9;

/// What [`mask_across`] puts between the two texts: a separator, like the
/// line break between two messages on screen.
const MESSAGE_JOIN: &str = "\n";

/// Masks card numbers (keeping the last four digits) and SSNs in `text`.
///
/// See the [module docs](self) for the exact rules. Returns
/// [`Cow::Borrowed`] when nothing was masked.
///
/// ```
/// use switchboard::masking::mask_sensitive;
/// assert_eq!(mask_sensitive("card 4111.1111.1111.1111 please"), "card **** **** **** 1111 please");
/// assert_eq!(mask_sensitive("card ４１１１ １１１１ １１１１ １１１１"), "card **** **** **** １１１１");
/// assert_eq!(mask_sensitive("41111111111111111225"), "**** **** **** 1111 ***5");
/// assert_eq!(mask_sensitive("ssn 123 45 6789"), "ssn ***-**-****");
/// assert_eq!(mask_sensitive("call 555-123-4567, order 123456789012"), "call 555-123-4567, order 123456789012");
/// ```
pub fn mask_sensitive(text: &str) -> Cow<'_, str> {
    if !has_digits(text, SSN_DIGITS) {
        return Cow::Borrowed(text);
    }
    mask_to_fixpoint(text, None).0
}

/// What [`mask_across`] found: the texts both entries must hold from now on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMasking {
    /// The earlier entry's new text, when it differs from the `previous`
    /// given: the hub redacts the stored entry and sends `redact`. `None`
    /// when the earlier entry keeps its text.
    pub previous: Option<String>,
    /// The new entry's text, to store and deliver in place of
    /// `mask_sensitive(current)`.
    pub current: String,
}

/// Masks a card number or SSN typed over two consecutive messages of one
/// author: `previous` is the earlier entry's stored text, `current` the new
/// text (raw or already masked).
///
/// Returns `None` when the two texts, joined by a line break, hold nothing
/// that [`mask_sensitive`] of each text alone does not already mask (the
/// usual case). Otherwise both texts are masked as one and cut back apart;
/// each resulting text is also masked on its own terms. See the
/// [module docs](self#a-number-split-over-two-messages).
///
/// ```
/// use switchboard::masking::mask_across;
/// let split = mask_across("ssn is 123-45", "-6789").expect("split SSN");
/// assert_eq!(split.previous.as_deref(), Some("ssn is ***-**"));
/// assert_eq!(split.current, "-****");
/// assert_eq!(mask_across("my order", "is 12345"), None);
/// ```
pub fn mask_across(previous: &str, current: &str) -> Option<SplitMasking> {
    // Nothing sensitive has fewer digits than an SSN; most pairs of
    // messages stop here without building anything.
    if digit_count(previous) + digit_count(current) < SSN_DIGITS {
        return None;
    }
    let joined = [previous, MESSAGE_JOIN, current].concat();
    let seam = previous.len()..previous.len() + MESSAGE_JOIN.len();
    let (masked, seam) = mask_to_fixpoint(&joined, Some(seam));
    let seam = seam?;
    let (before, after) = (&masked[..seam.start], &masked[seam.end..]);
    let alone = (mask_sensitive(previous), mask_sensitive(current));
    let together = (mask_sensitive(before), mask_sensitive(after));
    if together == alone {
        return None;
    }
    Some(SplitMasking {
        previous: (together.0 != previous).then(|| together.0.into_owned()),
        current: together.1.into_owned(),
    })
}

/// Whether `digits` passes the Luhn (mod 10) check used by card numbers.
///
/// Digits are any decimal digits (see the [module docs](self)); separators
/// are ignored; any other character, or no digit at all, makes it `false`.
/// Length is not checked here.
///
/// ```
/// use switchboard::masking::luhn_valid;
/// assert!(luhn_valid("4111 1111 1111 1111"));
/// assert!(luhn_valid("٤١١١-١١١١-١١١١-١١١١"));
/// assert!(!luhn_valid("4111 1111 1111 1112"));
/// assert!(!luhn_valid("41x1"));
/// ```
pub fn luhn_valid(digits: &str) -> bool {
    let mut values = Vec::with_capacity(digits.len());
    for c in digits.chars() {
        match digit_value(c) {
            Some(v) => values.push(v),
            None if is_separator(c) => {}
            None => return false,
        }
    }
    !values.is_empty() && luhn_ok(&values)
}

/// Whether `values` (digits, left to right) pass the Luhn check.
fn luhn_ok(values: &[u8]) -> bool {
    let sum: u32 = values
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            match (i % 2 == 1, d * 2) {
                (true, twice) if twice > 9 => twice - 9,
                (true, twice) => twice,
                (false, _) => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The value of `c` as a decimal digit: `c`'s NFKC form must be a single
/// character of category Nd.
fn digit_value(c: char) -> Option<u8> {
    if c.is_ascii_digit() {
        return Some(c as u8 - b'0');
    }
    // Every character NFKC maps to a decimal digit is numeric (Nd or No), so
    // this keeps the normalisation off all other text.
    if c.is_ascii() || !c.is_numeric() {
        return None;
    }
    let mut nfkc = std::iter::once(c).nfkc();
    let (Some(d), None) = (nfkc.next(), nfkc.next()) else {
        return None;
    };
    if d.is_ascii_digit() {
        return Some(d as u8 - b'0');
    }
    decimal_value(d)
}

/// The value of a Unicode decimal digit (category Nd). Unicode encodes
/// every decimal digit in a contiguous range of ten, zero first
/// (Unicode Stability Policy), so the value is how many digits precede `c`
/// in its block of Nd characters, modulo ten.
fn decimal_value(c: char) -> Option<u8> {
    let is_nd = |c: char| c.general_category() == GeneralCategory::DecimalNumber;
    if !is_nd(c) {
        return None;
    }
    let mut before = 0u32;
    let mut code = u32::from(c);
    while let Some(prev) = code.checked_sub(1).and_then(char::from_u32) {
        if !is_nd(prev) {
            break;
        }
        before += 1;
        code -= 1;
    }
    u8::try_from(before % 10).ok()
}

/// Whether `c` may stand between two digit groups of one number.
fn is_separator(c: char) -> bool {
    match c {
        '.' | '-' | '/' | '_' => true,
        c if c.is_ascii() => c.is_whitespace(),
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' => true,
        c if c.is_whitespace() || is_invisible(c) => true,
        // Compatibility forms of the ASCII separators: fullwidth `．` `／` `＿`,
        // small `﹒`, and the like.
        c => {
            let mut nfkc = std::iter::once(c).nfkc();
            matches!(
                (nfkc.next(), nfkc.next()),
                (Some('.' | '-' | '/' | '_'), None)
            )
        }
    }
}

/// Whether `text` holds at least `at_least` digits.
/// How many decimal digits (any script) the text holds.
fn digit_count(text: &str) -> usize {
    if text.is_ascii() {
        text.bytes().filter(u8::is_ascii_digit).count()
    } else {
        text.chars().filter_map(digit_value).count()
    }
}

fn has_digits(text: &str, at_least: usize) -> bool {
    if text.is_ascii() {
        text.bytes()
            .filter(u8::is_ascii_digit)
            .nth(at_least.saturating_sub(1))
            .is_some()
    } else {
        text.chars()
            .filter_map(digit_value)
            .nth(at_least.saturating_sub(1))
            .is_some()
    }
}

/// One digit of a run.
#[derive(Debug, Clone, Copy)]
struct Digit {
    /// Its value, 0–9.
    value: u8,
    /// Byte offset of its character in the text.
    at: usize,
    /// Byte length of its character.
    len: usize,
}

impl Digit {
    /// The byte range of its character.
    fn bytes(&self) -> Range<usize> {
        self.at..self.at + self.len
    }
}

/// Digits joined by separators (see the module docs).
#[derive(Debug, Default)]
struct Run {
    /// The digits, in order.
    digits: Vec<Digit>,
    /// Each group as a range of indices into `digits`, in order.
    groups: Vec<Range<usize>>,
    /// For each digit, the index of its group in `groups`.
    group_of: Vec<usize>,
}

impl Run {
    /// Adds a digit, starting a new group when separators came before it.
    fn push(&mut self, digit: Digit, new_group: bool) {
        let i = self.digits.len();
        match self.groups.last_mut() {
            Some(group) if !new_group => group.end = i + 1,
            _ => self.groups.push(i..i + 1),
        }
        self.group_of.push(self.groups.len() - 1);
        self.digits.push(digit);
    }

    /// The group holding digit `i`.
    fn group(&self, i: usize) -> Range<usize> {
        self.groups[self.group_of[i]].clone()
    }

    /// The byte range from digit `digits.start` to digit `digits.end - 1`.
    fn bytes(&self, digits: &Range<usize>) -> Range<usize> {
        self.digits[digits.start].at..self.digits[digits.end - 1].bytes().end
    }

    /// The separators between group `g` and group `g + 1`.
    fn separator_after<'t>(&self, text: &'t str, g: usize) -> &'t str {
        let end = self.digits[self.groups[g].end - 1].bytes().end;
        let start = self.digits[self.groups[g + 1].start].at;
        &text[end..start]
    }
}

/// Every run of `text` with at least `min_digits` digits.
fn runs(text: &str, min_digits: usize) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut run = Run::default();
    let mut separated = false;
    for (at, c) in text.char_indices() {
        if let Some(value) = digit_value(c) {
            let len = c.len_utf8();
            run.push(Digit { value, at, len }, separated);
            separated = false;
        } else if !run.digits.is_empty() && is_separator(c) {
            separated = true;
        } else {
            let done = std::mem::take(&mut run);
            if done.digits.len() >= min_digits {
                runs.push(done);
            }
            separated = false;
        }
    }
    if run.digits.len() >= min_digits {
        runs.push(run);
    }
    runs
}

/// A stretch of text to replace by a mask.
#[derive(Debug)]
struct Redaction {
    /// From its first digit's first byte to its last digit's last byte.
    bytes: Range<usize>,
    /// Byte offset of each digit it covers.
    digit_at: Vec<usize>,
    /// A card (with its kept last four digits, as typed) or an SSN.
    kind: Kind,
}

/// What a [`Redaction`] hides.
#[derive(Debug)]
enum Kind {
    /// A card number.
    Card {
        /// Digits hidden before the kept ones.
        hidden_before: usize,
        /// The card's last four digits, as typed.
        kept: Vec<char>,
        /// Digits of the stretch after the card (an overlapping Luhn-valid
        /// window reached further), hidden too.
        hidden_after: usize,
    },
    /// An SSN; nothing stays.
    Ssn,
}

/// `n` hidden digits after a card's kept four: ` ***`.
fn hidden_tail(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" {}", "*".repeat(n))
    }
}

impl Redaction {
    /// Covers `digits` (indices into `run.digits`).
    fn new(run: &Run, digits: Range<usize>, kind: Kind) -> Redaction {
        Redaction {
            bytes: run.bytes(&digits),
            digit_at: run.digits[digits].iter().map(|d| d.at).collect(),
            kind,
        }
    }

    /// The whole mask.
    fn mask(&self) -> String {
        match &self.kind {
            Kind::Card {
                kept, hidden_after, ..
            } => {
                let mut mask = String::from(CARD_MASK);
                mask.extend(kept);
                mask.push_str(&hidden_tail(*hidden_after));
                mask
            }
            Kind::Ssn => SSN_MASK.to_owned(),
        }
    }

    /// The mask cut in two when `after` of its digits lie past the seam.
    fn split_mask(&self, after: usize) -> (String, String) {
        let before = self.digit_at.len() - after;
        match &self.kind {
            Kind::Card {
                hidden_before,
                kept,
                hidden_after,
            } => {
                let (left, right) = if before <= *hidden_before {
                    let mut right: String = kept.iter().collect();
                    right.push_str(&hidden_tail(*hidden_after));
                    (CARD_MASK.trim_end().to_owned(), right)
                } else if before <= hidden_before + kept.len() {
                    let cut = before - hidden_before;
                    let mut left = String::from(CARD_MASK);
                    left.extend(&kept[..cut]);
                    let mut right: String = kept[cut..].iter().collect();
                    right.push_str(&hidden_tail(*hidden_after));
                    (left, right)
                } else {
                    let cut = before - hidden_before - kept.len();
                    let mut left = String::from(CARD_MASK);
                    left.extend(kept);
                    left.push_str(&hidden_tail(cut));
                    (left, "*".repeat(hidden_after.saturating_sub(cut)))
                };
                (left, right.trim_start().to_owned())
            }
            Kind::Ssn => {
                // After the `before`-th star.
                let cut = SSN_MASK
                    .char_indices()
                    .filter(|&(_, c)| c == '*')
                    .nth(before)
                    .map_or(SSN_MASK.len(), |(i, _)| i);
                let cut = SSN_MASK[..cut].trim_end_matches('-').len();
                (SSN_MASK[..cut].to_owned(), SSN_MASK[cut..].to_owned())
            }
        }
    }
}

/// Masks `text` until nothing more changes. `seam`, the byte range joining
/// two texts in [`mask_across`], is carried through every replacement (it
/// becomes empty once a mask crosses it); `None` when lost, which cannot
/// happen but is not worth a panic.
fn mask_to_fixpoint(
    text: &str,
    seam: Option<Range<usize>>,
) -> (Cow<'_, str>, Option<Range<usize>>) {
    let mut current = Cow::Borrowed(text);
    let mut seam = seam;
    // Each pass that changes anything removes at least nine digits, so this
    // ends; looping to a fixed point is what makes masking idempotent (the
    // kept last four of one card cannot combine with neighbouring digits later).
    loop {
        let cards = find_cards(&current);
        if !cards.is_empty() {
            let (next, next_seam) = apply(&current, &cards, seam);
            current = Cow::Owned(next);
            seam = next_seam;
        }
        let ssns = find_ssns(&current);
        if !ssns.is_empty() {
            let (next, next_seam) = apply(&current, &ssns, seam);
            current = Cow::Owned(next);
            seam = next_seam;
        }
        if cards.is_empty() && ssns.is_empty() {
            return (current, seam);
        }
    }
}

/// Replaces each redaction (in text order, not overlapping) by its mask,
/// carrying `seam` along.
fn apply(
    text: &str,
    redactions: &[Redaction],
    seam: Option<Range<usize>>,
) -> (String, Option<Range<usize>>) {
    let mut out = String::with_capacity(text.len());
    let mut new_seam = None;
    let mut at = 0;
    let copy = |out: &mut String, new_seam: &mut Option<Range<usize>>, from: usize, to: usize| {
        if let Some(seam) = &seam {
            if new_seam.is_none() && seam.start >= from && seam.end <= to {
                let shift = out.len();
                *new_seam = Some(seam.start - from + shift..seam.end - from + shift);
            }
        }
        out.push_str(&text[from..to]);
    };
    for redaction in redactions {
        copy(&mut out, &mut new_seam, at, redaction.bytes.start);
        let after = seam.as_ref().map_or(0, |seam| {
            redaction
                .digit_at
                .iter()
                .filter(|&&d| d >= seam.end)
                .count()
        });
        if after > 0 && after < redaction.digit_at.len() {
            let (left, right) = redaction.split_mask(after);
            out.push_str(&left);
            new_seam = Some(out.len()..out.len());
            out.push_str(&right);
        } else {
            out.push_str(&redaction.mask());
        }
        at = redaction.bytes.end;
    }
    copy(&mut out, &mut new_seam, at, text.len());
    (out, seam.and(new_seam))
}

/// Every card number in `text`: overlapping card windows merged into one
/// stretch, which keeps the last four digits of its preferred window.
fn find_cards(text: &str) -> Vec<Redaction> {
    /// A stretch of overlapping windows and the one it shows as the card.
    struct Stretch {
        digits: Range<usize>,
        card: Range<usize>,
        rank: (WindowShape, std::cmp::Reverse<usize>),
    }
    let mut found = Vec::new();
    for run in runs(text, CARD_MIN_DIGITS) {
        let values: Vec<u8> = run.digits.iter().map(|d| d.value).collect();
        let n = values.len();
        let mut stretches: Vec<Stretch> = Vec::new();
        for start in 0..n {
            for end in start + CARD_MIN_DIGITS..=(start + CARD_MAX_DIGITS).min(n) {
                let Some(shape) = window_shape(&run, start, end) else {
                    continue;
                };
                if !luhn_ok(&values[start..end]) {
                    continue;
                }
                // Windows come by start, so a later one can only reach past the last stretch.
                let rank = (shape, std::cmp::Reverse(end - start));
                match stretches.last_mut() {
                    Some(last) if start < last.digits.end => {
                        last.digits.end = last.digits.end.max(end);
                        if rank < last.rank {
                            (last.card, last.rank) = (start..end, rank);
                        }
                    }
                    _ => stretches.push(Stretch {
                        digits: start..end,
                        card: start..end,
                        rank,
                    }),
                }
            }
        }
        for stretch in stretches {
            let kept_from = stretch.card.end - CARD_KEPT_DIGITS;
            let kept = run.digits[kept_from..stretch.card.end]
                .iter()
                .filter_map(|d| text[d.bytes()].chars().next())
                .collect();
            let kind = Kind::Card {
                hidden_before: kept_from - stretch.digits.start,
                kept,
                hidden_after: stretch.digits.end - stretch.card.end,
            };
            found.push(Redaction::new(&run, stretch.digits, kind));
        }
    }
    found
}

/// How a card window sits in its run, most card-like first: which window
/// of a stretch is shown as the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum WindowShape {
    /// Whole groups.
    Groups,
    /// Starts a group, and a 3–4-digit expiry or CVV is glued after it.
    GluedTail,
    /// Cuts into a group of 20 digits or more.
    InsideLongNumber,
}

/// The shape of card window `start..end` of `run`, `None` when a card
/// cannot sit there (module docs).
fn window_shape(run: &Run, start: usize, end: usize) -> Option<WindowShape> {
    let (first, last) = (run.group(start), run.group(end - 1));
    let starts_group = start == first.start;
    let ends_group = end == last.end;
    let glued_tail = GLUED_TAIL_DIGITS.contains(&(last.end - end))
        && end - start.max(last.start) >= GLUED_MIN_TAKEN;
    let long = |group: &Range<usize>| group.len() > CARD_MAX_DIGITS;
    if starts_group && ends_group {
        Some(WindowShape::Groups)
    } else if starts_group && glued_tail {
        Some(WindowShape::GluedTail)
    } else if (starts_group || long(&first)) && (ends_group || glued_tail || long(&last)) {
        Some(WindowShape::InsideLongNumber)
    } else {
        None
    }
}

/// Every SSN in `text` (module docs).
fn find_ssns(text: &str) -> Vec<Redaction> {
    let mut names_ssn: Option<bool> = None;
    let mut found = Vec::new();
    for run in runs(text, SSN_DIGITS) {
        let lens: Vec<usize> = run.groups.iter().map(ExactSizeIterator::len).collect();
        // Whether groups `first..=last` stand apart from their neighbours.
        let alone = |first: usize, last: usize| {
            let parted = |g: usize| {
                run.separator_after(text, g)
                    .chars()
                    .any(char::is_whitespace)
            };
            (first == 0 || parted(first - 1)) && (last + 1 == lens.len() || parted(last))
        };
        let mut g = 0;
        while g < lens.len() {
            if lens[g..].starts_with(&[3, 2, 4]) && alone(g, g + 2) {
                let digits = run.groups[g].start..run.groups[g + 2].end;
                found.push(Redaction::new(&run, digits, Kind::Ssn));
                g += 3;
                continue;
            }
            if lens[g] == SSN_DIGITS
                && alone(g, g)
                && *names_ssn.get_or_insert_with(|| names_an_ssn(text))
            {
                found.push(Redaction::new(&run, run.groups[g].clone(), Kind::Ssn));
            }
            g += 1;
        }
    }
    found
}

/// Whether `text` names an SSN: the word `ssn` or `ssns`, or `social`
/// followed by `security`, in any case (compared after NFKC).
fn names_an_ssn(text: &str) -> bool {
    let folded: String = text.nfkc().flat_map(char::to_lowercase).collect();
    let mut words = folded
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty());
    let mut previous = "";
    words.any(|word| {
        let named = matches!(word, "ssn" | "ssns" | "socialsecurity")
            || (previous == "social" && word == "security");
        previous = word;
        named
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CORPUS: &str = include_str!("../tests-data/masking_corpus.txt");

    /// The digits of `text`, as ASCII.
    fn ascii_digits(text: &str) -> String {
        text.chars()
            .filter_map(digit_value)
            .map(|d| char::from(b'0' + d))
            .collect()
    }

    #[test]
    fn masks_common_card_layouts_keeping_last_four() {
        for typed in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "4111 1111-1111 1111",
            "4111.1111.1111.1111",
            "4111  1111  1111  1111",
            "4111/1111/1111/1111",
            "4111_1111_1111_1111",
            "4111\t1111\t1111\t1111",
            "4111\n1111\n1111\n1111",
            "4111\u{A0}1111\u{A0}1111\u{A0}1111",
            "4111\u{2013}1111\u{2014}1111\u{2212}1111",
            "4111\u{2010}1111\u{2011}1111\u{2015}1111",
            "4111\u{FE58}1111\u{FE63}1111\u{FF0D}1111",
            "4111\u{200B}1111\u{200C}1111\u{200D}1111",
            "4111\u{2060}1111\u{FEFF}1111\u{AD}1111",
            "4111\u{202E}1111\u{2066}1111\u{200F}1111",
            "4111 - 1111 - 1111 - 1111",
            "4111\u{FF0E}1111\u{FF0F}1111\u{FF3F}1111",
            "3782 822463 10005",       // Amex, 15 digits
            "4222222222222",           // 13 digits
            "6011 0009 9013 9424",     // Discover
            "5555 5555 5555 4444",     // Mastercard
            "6250941006528599",        // UnionPay 16
            "4000 0000 0000 0000 006", // 19 digits
            "41 11 11 11 11 11 11 11", // pairs
        ] {
            let digits = ascii_digits(typed);
            assert!(luhn_valid(typed), "{typed:?} should be Luhn-valid");
            let last4 = &digits[digits.len() - 4..];
            let text = format!("my card is {typed}, thanks");
            assert_eq!(
                mask_sensitive(&text),
                format!("my card is {CARD_MASK}{last4}, thanks"),
                "{typed:?}"
            );
        }
    }

    #[test]
    fn masks_cards_in_every_script_keeping_the_typed_digits() {
        for (typed, last4) in [
            ("４１１１ １１１１ １１１１ １１１１", "１１１１"),
            ("٤١١١ ١١١١ ١١١١ ١١١١", "١١١١"),
            ("۴۱۱۱-۱۱۱۱-۱۱۱۱-۱۱۱۱", "۱۱۱۱"),
            ("४१११ ११११ ११११ ११११", "११११"),
            ("4111 ١١١١ ١١١١ 1111", "1111"),
            ("𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏", "𝟏𝟏𝟏𝟏"),
        ] {
            assert_eq!(
                mask_sensitive(&format!("card {typed}")),
                format!("card {CARD_MASK}{last4}"),
                "{typed}"
            );
        }
    }

    #[test]
    fn card_typed_into_its_expiry_or_cvv_is_masked() {
        let mut wrong = Vec::new();
        for (typed, shown) in [
            ("41111111111111111225", "**** **** **** 1111 ***5"),
            ("4111111111111111123", "**** **** **** 1111123"),
            ("4111 1111 1111 11111225", "**** **** **** 11111225"),
            ("4111 1111 1111 1111 0127", "**** **** **** 1111 ****"),
            ("4111 1111 1111 1111 0128", "**** **** **** 1111 0128"),
            (
                "4111 1111 1111 1111 12/25 123",
                "**** **** **** 1111 12/25 123",
            ),
            ("12/25 4111 1111 1111 1111", "12/25 **** **** **** 1111"),
        ] {
            let masked = mask_sensitive(typed);
            if masked != shown {
                wrong.push(format!("{typed} -> {masked}"));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
        // Inside a longer number, wherever it sits: no card digit but the
        // kept four stays readable.
        for typed in [
            "12254111111111111111",
            "00412254111111111111111999",
            "41111111111111111225123",
        ] {
            let masked = mask_sensitive(typed);
            assert!(masked.contains(CARD_MASK), "{typed} -> {masked}");
            let hidden = typed.len() - ascii_digits(&masked).len();
            assert!(hidden >= 12, "{typed} -> {masked}");
        }
    }

    #[test]
    fn leaves_look_alikes_alone() {
        for text in [
            "order 123456789012",      // 12 digits
            "call me on 555-123-4567", // phone, not an SSN
            "or +1 (555) 123 4567",
            "+1 (555) 123-4567",
            "+44 20 7946 0958",
            "4111 1111 1111 1112", // fails Luhn
            "amount $1,234.56 on 2024-05-01",
            "tracking 1Z999AA10123456784",
            "123-456-7890 and 12-345-6789",
            "1234-56-7890",
            "123-45-67890",
            "0123-45-6789",
            "1-123-45-6789",
            "123-45-6789-1",
            "123456789",
            "expires 12/25, cvv 123",
            "at 10:30 on 2026-12-02",
            "code 482913",
            "٤٥٦٧ ١٢٣",
        ] {
            assert!(matches!(mask_sensitive(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn several_cards_in_one_text() {
        assert_eq!(
            mask_sensitive("cards 4111111111111111 and 5555-5555-5555-4444."),
            "cards **** **** **** 1111 and **** **** **** 4444."
        );
        assert_eq!(
            mask_sensitive("4111111111111111 5555555555554444"),
            "**** **** **** 1111 **** **** **** 4444"
        );
    }

    #[test]
    fn masks_ssns_with_any_separator_standing_alone() {
        assert_eq!(mask_sensitive("SSN: 123-45-6789."), "SSN: ***-**-****.");
        assert_eq!(mask_sensitive("123-45-6789"), "***-**-****");
        assert_eq!(mask_sensitive("a123-45-6789b"), "a***-**-****b");
        assert_eq!(mask_sensitive("it's 123 45 6789"), "it's ***-**-****");
        assert_eq!(mask_sensitive("123.45.6789"), "***-**-****");
        assert_eq!(mask_sensitive("123\u{2013}45\u{200B}6789"), "***-**-****");
        assert_eq!(mask_sensitive("１２３－４５－６７８９"), "***-**-****");
        assert_eq!(
            mask_sensitive("123 45 6789 and 987 65 4321"),
            "***-**-**** and ***-**-****"
        );
        assert_eq!(mask_sensitive("1 123-45-6789"), "1 ***-**-****");
        assert_eq!(
            mask_sensitive("ssn 123-45-6789 card 4111 1111 1111 1111"),
            "ssn ***-**-**** card **** **** **** 1111"
        );
    }

    #[test]
    fn nine_digits_are_an_ssn_only_when_the_text_names_one() {
        for (typed, shown) in [
            ("ssn 123456789", "ssn ***-**-****"),
            ("My SSN is 123456789", "My SSN is ***-**-****"),
            ("ssn:123456789", "ssn:***-**-****"),
            (
                "social security number 123456789",
                "social security number ***-**-****",
            ),
            (
                "Social  Security: 123 456 789",
                "Social  Security: 123 456 789",
            ),
            ("ＳＳＮ １２３４５６７８９", "ＳＳＮ ***-**-****"),
            ("123456789", "123456789"),
            ("classname 123456789", "classname 123456789"),
            ("ssn 1234567890", "ssn 1234567890"),
        ] {
            assert_eq!(mask_sensitive(typed), shown, "{typed}");
        }
    }

    #[test]
    fn examples_in_docs_escalation_md() {
        for (typed, shown) in [
            ("4111 1111 1111 1111", "**** **** **** 1111"),
            ("4111-1111-1111-1111", "**** **** **** 1111"),
            ("4111111111111111", "**** **** **** 1111"),
            ("4111.1111.1111.1111", "**** **** **** 1111"),
            (
                "４１１１ １１１１ １１１１ １１１１",
                "**** **** **** １１１１",
            ),
            ("3782 822463 10005", "**** **** **** 0005"),
            ("4111 1111 1111 1111 0127", "**** **** **** 1111 ****"),
            ("4111 1111 1111 1111 0128", "**** **** **** 1111 0128"),
            ("41111111111111111225", "**** **** **** 1111 ***5"),
            ("4111/1111/1111/1111", "**** **** **** 1111"),
            ("123-45-6789", "***-**-****"),
            ("123 45 6789", "***-**-****"),
            ("123.45.6789", "***-**-****"),
            ("ssn 123456789", "ssn ***-**-****"),
            ("12/25", "12/25"),
            ("10:30", "10:30"),
            ("555-123-4567", "555-123-4567"),
            ("+1 (555) 123-4567", "+1 (555) 123-4567"),
            ("order 123456789012", "order 123456789012"),
            ("4111 1111 1111 1112", "4111 1111 1111 1112"),
            ("123456789", "123456789"),
            ("$1,234.56 on 2026-12-02", "$1,234.56 on 2026-12-02"),
        ] {
            assert_eq!(mask_sensitive(typed), shown, "{typed}");
        }
    }

    #[test]
    fn text_without_enough_digits_is_borrowed() {
        for text in [
            "I can't log in — café ☕",
            "",
            "room 12, floor 3",
            "٣ items",
        ] {
            let masked = mask_sensitive(text);
            assert!(matches!(masked, Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn kept_digits_next_to_more_digits_stay_stable() {
        let once = mask_sensitive("4111 1111 1111 1111 2222 2222 2222 1");
        let twice = mask_sensitive(&once);
        assert_eq!(once, twice);
    }

    #[test]
    fn luhn_accepts_any_digits_and_separators_only() {
        assert!(!luhn_valid(""));
        assert!(!luhn_valid(" - "));
        assert!(!luhn_valid("4111 1111 1111 111a"));
        assert!(luhn_valid("٤١١١ ١١١١ ١١١١ ١١١١"));
        assert!(luhn_valid("0"));
        assert!(luhn_valid("79927398713"));
    }

    #[test]
    fn decimal_digits_of_every_script_have_their_value() {
        for zero in [
            0x30u32, 0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0xFF10, 0x1D7CE, 0x1D7D8,
        ] {
            for d in 0..10u8 {
                let c = char::from_u32(zero + u32::from(d)).expect("char");
                assert_eq!(digit_value(c), Some(d), "U+{:04X}", u32::from(c));
            }
        }
        assert_eq!(digit_value('¹'), Some(1));
        assert_eq!(digit_value('①'), Some(1));
        assert_eq!(digit_value('½'), None);
        assert_eq!(digit_value('Ⅳ'), None);
        assert_eq!(digit_value('a'), None);
        // Wherever NFKC knows the value, the block arithmetic agrees with it.
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            if c.general_category() != GeneralCategory::DecimalNumber {
                continue;
            }
            assert!(decimal_value(c).is_some(), "U+{:04X}", u32::from(c));
            let nfkc: String = std::iter::once(c).nfkc().collect();
            if let Ok(v) = nfkc.parse::<u8>() {
                assert_eq!(decimal_value(c), Some(v), "U+{:04X}", u32::from(c));
            }
        }
    }

    #[test]
    fn split_card_is_masked_across_two_messages() {
        let split = mask_across("my card is 4111 1111", "1111 1111 thanks").expect("split");
        assert_eq!(split.previous.as_deref(), Some("my card is **** **** ****"));
        assert_eq!(split.current, "1111 thanks");

        // The kept four cut by the seam too.
        let split = mask_across("4111 1111 1111 11", "11").expect("split");
        assert_eq!(split.previous.as_deref(), Some("**** **** **** 11"));
        assert_eq!(split.current, "11");

        let split = mask_across("4111-1111-1111-1111-", "123 is the cvv");
        assert_eq!(split, None, "a card whole in one message is masked alone");

        let split = mask_across("ssn", "123456789").expect("named ssn");
        assert_eq!(split.previous, None);
        assert_eq!(split.current, "***-**-****");

        let split = mask_across("ssn is 123-45", "-6789").expect("split SSN");
        assert_eq!(split.previous.as_deref(), Some("ssn is ***-**"));
        assert_eq!(split.current, "-****");

        let split = mask_across("123", "45 6789").expect("split SSN");
        assert_eq!(split.previous.as_deref(), Some("***"));
        assert_eq!(split.current, "-**-****");

        // Stored texts are already masked: that is the usual call.
        let stored = mask_sensitive("card ４１１１ １１１１ １１１１");
        let split = mask_across(&stored, "１１１１").expect("split");
        assert_eq!(split.previous.as_deref(), Some("card **** **** ****"));
        assert_eq!(split.current, "１１１１");
    }

    #[test]
    fn unrelated_consecutive_messages_are_left_alone() {
        for (previous, current) in [
            ("hi", "my card is 4111 1111 1111 1111"),
            ("call me on 555-123-4567", "thanks"),
            ("order 1234", "5678 arrived"),
            ("**** **** **** 1111", "and 12/25"),
            ("", ""),
        ] {
            assert_eq!(
                mask_across(previous, current),
                None,
                "{previous} / {current}"
            );
        }
    }

    /// A label and the texts of one corpus line.
    struct CorpusLine<'a> {
        line: usize,
        label: &'a str,
        secret: Option<String>,
        messages: Vec<String>,
    }

    /// Turns `\u{…}`, `\t`, `\n` and `\\` into the characters they name.
    fn unescape(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find('\\') {
            out.push_str(&rest[..i]);
            rest = &rest[i + 1..];
            if let Some(hex) = rest.strip_prefix("u{") {
                let end = hex.find('}').expect("closing brace");
                let code = u32::from_str_radix(&hex[..end], 16).expect("hex");
                out.push(char::from_u32(code).expect("char"));
                rest = &hex[end + 1..];
            } else {
                let mut chars = rest.chars();
                match chars.next() {
                    Some('t') => out.push('\t'),
                    Some('n') => out.push('\n'),
                    Some(c) => out.push(c),
                    None => out.push('\\'),
                }
                rest = chars.as_str();
            }
        }
        out.push_str(rest);
        out
    }

    fn corpus() -> Vec<CorpusLine<'static>> {
        let mut lines = Vec::new();
        for (n, line) in CORPUS.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((label, text)) = line.split_once(" | ") else {
                panic!("corpus line {}: expected `label | text`", n + 1);
            };
            let (label, secret) = match label.trim().split_once(' ') {
                Some((label, secret)) => (label, Some(secret.to_owned())),
                None => (label.trim(), None),
            };
            lines.push(CorpusLine {
                line: n + 1,
                label,
                secret,
                messages: text.split(" || ").map(unescape).collect(),
            });
        }
        lines
    }

    /// Masks the messages of a line as the hub would: each alone, then each
    /// consecutive pair across.
    fn mask_messages(messages: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for message in messages {
            let masked = mask_sensitive(message).into_owned();
            match out
                .last_mut()
                .and_then(|previous| mask_across(previous, &masked).map(|split| (previous, split)))
            {
                Some((previous, split)) => {
                    if let Some(text) = split.previous {
                        *previous = text;
                    }
                    out.push(split.current);
                }
                None => out.push(masked),
            }
        }
        out
    }

    #[test]
    fn corpus_precision_and_recall() {
        let (mut sensitive, mut lookalikes) = (0usize, 0usize);
        let (mut hits, mut misses, mut false_alarms) = (0usize, 0usize, 0usize);
        let mut failures = Vec::new();
        for line in corpus() {
            let masked = mask_messages(&line.messages);
            let (before, after) = (line.messages.join(" || "), masked.join(" || "));
            match (line.label, &line.secret) {
                ("lookalike", None) => {
                    lookalikes += 1;
                    if before != after {
                        false_alarms += 1;
                        failures.push(format!("line {}: masked a look-alike: {after}", line.line));
                    }
                }
                ("card" | "ssn", Some(secret)) => {
                    sensitive += 1;
                    let kept = if line.label == "card" {
                        CARD_KEPT_DIGITS
                    } else {
                        0
                    };
                    assert!(
                        ascii_digits(&before).contains(secret.as_str()),
                        "corpus line {}: the text does not hold {secret}",
                        line.line
                    );
                    // Every digit but the kept four is gone, and no stretch of
                    // the hidden part survives.
                    let (shown, typed) = (ascii_digits(&after), ascii_digits(&before));
                    let hidden = &secret[..secret.len() - kept];
                    let removed = typed.len().saturating_sub(shown.len());
                    if removed >= hidden.len() && !shown.contains(hidden) {
                        hits += 1;
                    } else {
                        misses += 1;
                        failures.push(format!("line {}: left readable: {after}", line.line));
                    }
                }
                (label, _) => panic!("corpus line {}: bad label `{label}`", line.line),
            }
        }
        let (precision, recall) = crate::classifier::precision_recall(hits, false_alarms, misses);
        println!(
            "masking: {sensitive} sensitive, {lookalikes} look-alikes, precision {precision:.2} recall {recall:.2}"
        );
        for failure in &failures {
            println!("  {failure}");
        }
        assert!(
            sensitive >= 30 && lookalikes >= 30,
            "corpus too small: {sensitive}+{lookalikes}"
        );
        assert_eq!(
            misses, 0,
            "card numbers or SSNs left readable: {failures:#?}"
        );
        assert_eq!(false_alarms, 0, "look-alikes changed: {failures:#?}");
    }

    /// A Luhn-valid number of 13–19 digits, as values.
    fn card_digits() -> impl Strategy<Value = Vec<u8>> {
        (12usize..=18).prop_flat_map(|body_len| {
            proptest::collection::vec(0u8..10, body_len).prop_map(|mut digits| {
                digits.push(0);
                if let Some(check) = (0..10u8).find(|&d| {
                    if let Some(last) = digits.last_mut() {
                        *last = d;
                    }
                    luhn_ok(&digits)
                }) {
                    if let Some(last) = digits.last_mut() {
                        *last = check;
                    }
                }
                digits
            })
        })
    }

    /// Where each script's zero is: ASCII, fullwidth, Arabic-Indic, Extended
    /// Arabic-Indic, Devanagari.
    const ZEROS: [u32; 5] = [0x30, 0xFF10, 0x660, 0x6F0, 0x966];

    /// One separator as typed between digit groups.
    fn separator() -> impl Strategy<Value = char> {
        prop::sample::select(vec![
            ' ', ' ', ' ', '-', '-', '.', '/', '_', '\t', '\n', '\u{A0}', '\u{2010}', '\u{2011}',
            '\u{2012}', '\u{2013}', '\u{2014}', '\u{2015}', '\u{2212}', '\u{FE58}', '\u{FE63}',
            '\u{FF0D}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}',
        ])
    }

    /// `digits` typed in random scripts, cut into random groups with random
    /// separator runs between them.
    fn typed(digits: Vec<u8>) -> impl Strategy<Value = (Vec<u8>, String)> {
        let n = digits.len();
        (
            proptest::collection::vec(prop::sample::select(ZEROS.to_vec()), n),
            proptest::collection::vec(
                prop_oneof![
                    3 => Just(Vec::new()),
                    1 => proptest::collection::vec(separator(), 1..4),
                ],
                n,
            ),
        )
            .prop_map(move |(scripts, gaps)| {
                let mut text = String::new();
                for (i, &d) in digits.iter().enumerate() {
                    if i > 0 {
                        text.extend(&gaps[i]);
                    }
                    text.extend(char::from_u32(scripts[i] + u32::from(d)));
                }
                (digits.clone(), text)
            })
    }

    /// Words around a number: no digit, no separator at their edges.
    fn words() -> impl Strategy<Value = String> {
        proptest::collection::vec("[a-zA-Zéü,:!?()']{1,9}", 0..4).prop_map(|w| w.join(" "))
    }

    /// Arbitrary text without any digit.
    fn digitless() -> &'static str {
        "[^\\p{N}]{0,30}"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_card_as_people_type_it_is_masked(
            (digits, typed) in card_digits().prop_flat_map(typed),
            before in words(),
            after in words(),
        ) {
            let text = format!("{before} {typed} {after}");
            let masked = mask_sensitive(&text);
            let last4: String = digits[digits.len() - 4..].iter().map(|d| char::from(b'0' + d)).collect();
            // Only the last four of the card's digits are left.
            prop_assert_eq!(ascii_digits(&masked), last4);
            prop_assert!(masked.contains(CARD_MASK));
            prop_assert!(masked.starts_with(&before) && masked.ends_with(&after));
        }

        #[test]
        fn card_split_over_two_messages_is_masked(
            (digits, typed) in card_digits().prop_flat_map(typed),
            cut in 0.0f64..1.0,
            before in words(),
            after in words(),
        ) {
            let chars: Vec<(usize, char)> = typed.char_indices().collect();
            let at = chars[((chars.len() - 1) as f64 * cut) as usize + 1].0;
            let (head, tail) = typed.split_at(at);
            let (previous, current) = (format!("{before} {head}"), format!("{tail} {after}"));
            // As the hub calls it: each text masked alone first.
            let (previous, current) = (mask_sensitive(&previous), mask_sensitive(&current));
            prop_assume!(ascii_digits(&previous).len() + ascii_digits(&current).len() == digits.len());
            let split = mask_across(&previous, &current);
            prop_assert!(split.is_some());
            let split = split.unwrap_or_else(|| unreachable!());
            let shown = ascii_digits(split.previous.as_deref().unwrap_or(&previous)) + &ascii_digits(&split.current);
            let last4: String = digits[digits.len() - 4..].iter().map(|d| char::from(b'0' + d)).collect();
            prop_assert_eq!(shown, last4);
        }

        #[test]
        fn unbroken_numbers_follow_the_documented_rule(run in "[0-9]{1,19}", before in digitless(), after in digitless()) {
            let values: Vec<u8> = run.bytes().map(|b| b - b'0').collect();
            let n = values.len();
            // A card: the whole run, or a card followed by a 3- or 4-digit tail.
            let card = (n >= CARD_MIN_DIGITS && luhn_ok(&values))
                || (3..=4).any(|tail| n >= CARD_MIN_DIGITS + tail && luhn_ok(&values[..n - tail]));
            let text = format!("{before} {run} {after}");
            let masked = mask_sensitive(&text);
            if card {
                prop_assert!(masked.contains(CARD_MASK));
            } else {
                prop_assert_eq!(masked.as_ref(), text.as_str());
            }
        }

        #[test]
        fn short_numbers_are_unchanged(
            numbers in proptest::collection::vec("[0-9]{1,12}", 1..4),
            before in digitless(),
        ) {
            let text = format!("{before} {}", numbers.join(", "));
            prop_assume!(!names_an_ssn(&text));
            let masked = mask_sensitive(&text);
            // 3-2-4 shapes are SSNs; nothing else of 12 digits or fewer changes.
            prop_assume!(!text.split(", ").any(|n| n.len() == 9));
            prop_assert_eq!(masked.as_ref(), text.as_str());
        }

        #[test]
        fn phone_numbers_dates_and_amounts_are_unchanged(
            text in "[2-9][0-9]{2}-[0-9]{3}-[0-9]{4}|\\([0-9]{3}\\) [0-9]{3}-[0-9]{4}|\\+1 [0-9]{3} [0-9]{3} [0-9]{4}|\\$[0-9]{1,3},[0-9]{3}\\.[0-9]{2}|20[0-9]{2}-[01][0-9]-[0-3][0-9]|[01][0-9]/[0-9]{2}|[0-2][0-9]:[0-5][0-9]",
        ) {
            let text = format!("call me at {text} tonight");
            prop_assert_eq!(mask_sensitive(&text), text.as_str());
        }

        #[test]
        fn text_without_digits_is_borrowed_and_unchanged(text in "[^\\p{N}]*") {
            let masked = mask_sensitive(&text);
            prop_assert!(matches!(masked, Cow::Borrowed(t) if t == text));
        }

        #[test]
        fn masking_is_idempotent(text in "([0-9]{1,6}|[０-９٠-٩]{1,4}|[ ./_\\-\u{200B}\u{2013}]|\\PC{0,3}){0,40}") {
            let once = mask_sensitive(&text);
            let twice = mask_sensitive(&once);
            prop_assert_eq!(once.as_ref(), twice.as_ref());
        }

        #[test]
        fn never_panics_and_never_adds_digits(text in "\\PC*|[\\s\\S]{0,60}") {
            let masked = mask_sensitive(&text);
            prop_assert!(ascii_digits(&masked).len() <= ascii_digits(&text).len());
        }

        #[test]
        fn mask_across_never_panics(previous in "[0-9 \\-a-z]{0,30}", current in "[0-9 \\-a-z]{0,30}") {
            if let Some(split) = mask_across(&previous, &current) {
                let shown = ascii_digits(split.previous.as_deref().unwrap_or(&previous)).len() + ascii_digits(&split.current).len();
                prop_assert!(shown < ascii_digits(&previous).len() + ascii_digits(&current).len());
            }
        }

        #[test]
        fn ssns_are_fully_masked(
            (a, b, c) in ("[0-9]{3}", "[0-9]{2}", "[0-9]{4}"),
            (s1, s2) in (proptest::collection::vec(separator(), 1..3), proptest::collection::vec(separator(), 1..3)),
            before in words(),
            after in words(),
        ) {
            let (s1, s2): (String, String) = (s1.into_iter().collect(), s2.into_iter().collect());
            let text = format!("{before} {a}{s1}{b}{s2}{c} {after}");
            let masked = mask_sensitive(&text);
            prop_assert_eq!(masked.as_ref(), format!("{before} {SSN_MASK} {after}"));
        }
    }
}
