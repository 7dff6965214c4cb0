//! Text hygiene: what a person typed, made safe to show another person.
//!
//! SPEC ("Identity", last paragraph): names and text lose bidirectional
//! overrides and invisible characters; text made only of them is empty and
//! refused; control characters other than newline and tab are refused.
//!
//! - [`clean_text`] is for anything typed into a conversation (messages,
//!   escalation notes, secure messages, rating comments).
//! - [`clean_name`] is for display names: the same, but a name is one line
//!   (newlines and tabs are refused too) and is trimmed.
//!
//! Removed ([`is_invisible`]): the bidirectional controls (embeddings and
//! overrides U+202A–U+202E, isolates U+2066–U+2069, marks U+200E/U+200F), the
//! zero-width characters (U+200B–U+200D, word joiner U+2060, the invisible
//! operators U+2061–U+2064, U+180E), the byte-order mark U+FEFF and the soft
//! hyphen U+00AD. One exception: a zero-width joiner between two emoji is
//! kept, because it is what draws 👩‍💻 as one picture and not two.
//!
//! Refused ([`TextError`]): any control character (Unicode category Cc: NUL,
//! ESC, and so every ANSI escape sequence, carriage return, DEL, the C1
//! controls) other than `\n` and `\t`; and text with nothing left but
//! whitespace once the invisible characters are gone.
//!
//! Both return [`Cow::Borrowed`] when nothing had to change (most texts).
//!
//! # Order with masking
//!
//! The hub cleans first, then masks: `mask_sensitive(&clean_text(raw)?)`
//! ([`crate::masking::mask_sensitive`]). Masking then sees exactly the text that
//! will be stored, so removing a character afterwards can never join two
//! digit groups into a card number nobody masked. Masking does not rely on
//! that order either: it treats every character this module removes as a
//! separator between digit groups, so a text that is masked without being
//! cleaned (or cleaned after masking) is still safe.
//!
//! This module only sees text; it never logs it.

use std::borrow::Cow;

use unicode_properties::UnicodeEmoji;

/// Zero-width joiner: removed, except between two emoji.
const ZWJ: char = '\u{200D}';

/// Why a typed text or name was refused. The messages are client-safe: they
/// never quote the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing visible is left (empty, whitespace, or only invisible characters).
    #[error("the text is empty once invisible characters are removed")]
    Empty,
    /// A control character other than newline and tab.
    #[error("control characters (here U+{:04X}) are not allowed; only newline and tab are", u32::from(*.0))]
    Control(char),
    /// A newline or tab in a name.
    #[error("a name is one line: no newline or tab (here U+{:04X})", u32::from(*.0))]
    NotOneLine(char),
}

/// Whether `c` is removed from names and text: a bidirectional control, a
/// zero-width or otherwise invisible character, the BOM or a soft hyphen.
///
/// Masking ([`crate::masking`]) treats these as separators between digit
/// groups, so this list is the one rule both modules follow.
///
/// ```
/// use switchboard::text::is_invisible;
/// assert!(is_invisible('\u{202E}')); // right-to-left override
/// assert!(is_invisible('\u{200B}')); // zero-width space
/// assert!(!is_invisible(' '));
/// ```
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'                  // soft hyphen
            | '\u{180E}'            // Mongolian vowel separator (was a zero-width space)
            | '\u{200B}'..='\u{200F}' // zero-width space, non-joiner, joiner; LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}' // BOM, zero-width no-break space
    )
}

/// Cleans a typed text (message, note, comment): removes invisible
/// characters, refuses control characters other than `\n` and `\t`, and
/// refuses text with nothing visible left.
///
/// See the [module docs](self). Leading and trailing whitespace is kept.
///
/// ```
/// use switchboard::text::{clean_text, TextError};
/// assert_eq!(clean_text("hello\u{202E}dlrow").as_deref(), Ok("hellodlrow"));
/// assert_eq!(clean_text("line one\nline two").as_deref(), Ok("line one\nline two"));
/// assert_eq!(clean_text("\u{200B} \u{FEFF}"), Err(TextError::Empty));
/// assert_eq!(clean_text("\u{1b}[31mred"), Err(TextError::Control('\u{1b}')));
/// ```
pub fn clean_text(text: &str) -> Result<Cow<'_, str>, TextError> {
    clean(text, |c| c == '\n' || c == '\t')
}

/// Cleans a display name: as [`clean_text`], but newlines and tabs are
/// refused as well, and the result is trimmed.
///
/// ```
/// use switchboard::text::{clean_name, TextError};
/// assert_eq!(clean_name("  Ana\u{200B} María ").as_deref(), Ok("Ana María"));
/// assert_eq!(clean_name("Ana\nMaría"), Err(TextError::NotOneLine('\n')));
/// assert_eq!(clean_name("\u{2066}\u{2069}"), Err(TextError::Empty));
/// ```
pub fn clean_name(name: &str) -> Result<Cow<'_, str>, TextError> {
    if let Some(c) = name.chars().find(|&c| c == '\n' || c == '\t') {
        return Err(TextError::NotOneLine(c));
    }
    match clean(name, |_| false)? {
        Cow::Borrowed(name) => Ok(Cow::Borrowed(name.trim())),
        Cow::Owned(name) => {
            let trimmed = name.trim();
            Ok(if trimmed.len() == name.len() {
                Cow::Owned(name)
            } else {
                Cow::Owned(trimmed.to_owned())
            })
        }
    }
}

/// The shared cleaning: `allowed_control` says which control characters stay.
fn clean(text: &str, allowed_control: fn(char) -> bool) -> Result<Cow<'_, str>, TextError> {
    let mut visible = false;
    let mut needs_removal = false;
    for (at, c) in text.char_indices() {
        if c.is_control() {
            if !allowed_control(c) {
                return Err(TextError::Control(c));
            }
        } else if is_invisible(c) {
            needs_removal |= !kept_joiner(text, at, c);
        } else {
            visible |= !c.is_whitespace();
        }
    }
    if !visible {
        return Err(TextError::Empty);
    }
    if !needs_removal {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    for (at, c) in text.char_indices() {
        if !is_invisible(c) || kept_joiner(text, at, c) {
            out.push(c);
        }
    }
    Ok(Cow::Owned(out))
}

/// Whether `c`, at byte `at` of `text`, is a zero-width joiner inside an
/// emoji sequence (between two emoji, the first possibly followed by a
/// variation selector or skin tone).
fn kept_joiner(text: &str, at: usize, c: char) -> bool {
    if c != ZWJ {
        return false;
    }
    let pictographic = |c: char| !c.is_ascii() && c.is_emoji_char();
    let before = text[..at].chars().next_back();
    let after = text[at + c.len_utf8()..].chars().next();
    let modifier = |c: char| c == '\u{FE0F}' || (!c.is_ascii() && c.is_emoji_component());
    matches!(before, Some(b) if pictographic(b) || modifier(b))
        && matches!(after, Some(a) if pictographic(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_is_borrowed() {
        for text in ["hello", "two\nlines\tand a tab", "café ☕ 👍", "  spaced  "] {
            assert!(
                matches!(clean_text(text), Ok(Cow::Borrowed(t)) if t == text),
                "{text:?}"
            );
        }
        assert!(matches!(
            clean_name("Ana María"),
            Ok(Cow::Borrowed("Ana María"))
        ));
        assert!(matches!(clean_name("  Ana "), Ok(Cow::Borrowed("Ana"))));
    }

    #[test]
    fn removes_bidi_controls_and_invisibles() {
        let cases = [
            ("pay\u{202E}lanigiro", "paylanigiro"),
            ("\u{2066}isolated\u{2069}", "isolated"),
            ("a\u{200E}b\u{200F}c", "abc"),
            (
                "zero\u{200B}width\u{200C}non\u{2060}joiner",
                "zerowidthnonjoiner",
            ),
            ("\u{FEFF}bom", "bom"),
            ("soft\u{00AD}hyphen", "softhyphen"),
            ("a\u{200D}b", "ab"),
            ("4111\u{200B}1111", "41111111"),
        ];
        for (typed, clean) in cases {
            assert_eq!(clean_text(typed).as_deref(), Ok(clean), "{typed:?}");
        }
    }

    #[test]
    fn keeps_joiners_inside_emoji_sequences() {
        for emoji in [
            "👩\u{200D}💻",
            "👨\u{200D}👩\u{200D}👧",
            "🏳\u{FE0F}\u{200D}🌈",
            "👍🏽\u{200D}👍",
        ] {
            assert!(
                matches!(clean_text(emoji), Ok(Cow::Borrowed(_))),
                "{emoji:?}"
            );
        }
        assert_eq!(clean_text("1\u{200D}2").as_deref(), Ok("12"));
        assert_eq!(clean_text("👩\u{200D}a").as_deref(), Ok("👩a"));
    }

    #[test]
    fn only_invisible_or_blank_is_empty() {
        for text in [
            "",
            " ",
            "\u{200B}",
            "\u{202E}\u{202C}",
            " \u{FEFF} \u{00A0}",
        ] {
            assert_eq!(clean_text(text), Err(TextError::Empty), "{text:?}");
            assert_eq!(clean_name(text), Err(TextError::Empty), "{text:?}");
        }
        assert_eq!(clean_text("\n\t "), Err(TextError::Empty));
    }

    #[test]
    fn refuses_control_characters() {
        for (text, c) in [
            ("nul\0byte", '\0'),
            ("\u{1b}[2J\u{1b}[Hcleared", '\u{1b}'),
            ("carriage\rreturn", '\r'),
            ("bell\u{7}", '\u{7}'),
            ("del\u{7f}", '\u{7f}'),
            ("c1\u{85}control", '\u{85}'),
        ] {
            assert_eq!(clean_text(text), Err(TextError::Control(c)), "{text:?}");
            assert_eq!(clean_name(text), Err(TextError::Control(c)), "{text:?}");
        }
    }

    #[test]
    fn names_are_one_trimmed_line() {
        assert_eq!(clean_name("Ana\tMaría"), Err(TextError::NotOneLine('\t')));
        assert_eq!(clean_name("Ana\nMaría"), Err(TextError::NotOneLine('\n')));
        assert_eq!(clean_name(" \u{200B}Ana\u{202E} ").as_deref(), Ok("Ana"));
        assert_eq!(clean_name("\u{200B} Ana").as_deref(), Ok("Ana"));
    }

    #[test]
    fn messages_are_client_safe_and_name_the_character() {
        let esc = TextError::Control('\u{1b}').to_string();
        assert!(
            esc.contains("U+001B") && esc.contains("newline and tab"),
            "{esc}"
        );
        let tab = TextError::NotOneLine('\t').to_string();
        assert!(tab.contains("U+0009") && tab.contains("one line"), "{tab}");
        assert!(TextError::Empty.to_string().contains("empty"));
    }

    /// Invisible characters, and ordinary text without control characters.
    fn invisible() -> impl Strategy<Value = char> {
        prop_oneof![
            Just('\u{00AD}'),
            Just('\u{180E}'),
            (0x200Bu32..=0x200F).prop_filter_map("char", char::from_u32),
            (0x202Au32..=0x202E).prop_filter_map("char", char::from_u32),
            (0x2060u32..=0x2064).prop_filter_map("char", char::from_u32),
            (0x2066u32..=0x2069).prop_filter_map("char", char::from_u32),
            Just('\u{FEFF}'),
        ]
    }

    proptest! {
        #[test]
        fn cleaned_text_holds_no_invisible_or_control_character(text in "\\PC*|[\\s\\S]{0,40}") {
            if let Ok(clean) = clean_text(&text) {
                prop_assert!(!clean.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
                let stray = clean.char_indices().any(|(at, c)| is_invisible(c) && !kept_joiner(&clean, at, c));
                prop_assert!(!stray);
                prop_assert!(clean.chars().any(|c| !c.is_whitespace()));
                // Cleaning is idempotent.
                let again = clean_text(&clean);
                prop_assert_eq!(again.as_deref(), Ok(clean.as_ref()));
            }
        }

        #[test]
        fn inserted_invisibles_are_removed(
            words in proptest::collection::vec("[a-zA-Z0-9 .,!?]{1,8}", 1..6),
            marks in proptest::collection::vec(invisible(), 1..6),
        ) {
            let plain: String = words.concat();
            prop_assume!(plain.chars().any(|c| !c.is_whitespace()));
            let mut typed = String::new();
            for (i, word) in words.iter().enumerate() {
                typed.push_str(word);
                typed.push(marks[i % marks.len()]);
            }
            let text = clean_text(&typed);
            prop_assert_eq!(text.as_deref(), Ok(plain.as_str()));
            let name = clean_name(&typed);
            prop_assert_eq!(name.as_deref(), Ok(plain.trim()));
        }
    }
}
