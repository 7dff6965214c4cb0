//! Text hygiene: what a person typed, made safe to show another person.
//!
//! SPEC ("Identity"): names and text lose every character with the Unicode
//! property `Default_Ignorable_Code_Point` and every bidirectional control,
//! except the joiners and variation selectors that belong to an emoji
//! sequence; blank-looking characters count as blank; a text or name that is
//! blank after cleaning is refused; control characters other than newline
//! and tab are refused.
//!
//! - [`clean_text`] is for anything typed into a conversation (messages,
//!   escalation notes, secure messages, rating comments).
//! - [`clean_name`] is for display names: the same, but a name is one line
//!   (newlines and tabs are refused too) and is trimmed.
//!
//! Removed ([`is_invisible`]): every `Default_Ignorable_Code_Point` and every
//! `Bidi_Control`, read from the Unicode Character Database by
//! `icu_properties` rather than from a list written here. That is the
//! zero-width characters, joiners and the word joiner, the soft hyphen, the
//! BOM, the invisible operators, the bidi marks (U+061C, U+200E/U+200F),
//! embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), the
//! variation selectors (U+FE00–U+FE0F, U+E0100–U+E01EF) and Mongolian ones
//! (U+180B–U+180F), the combining grapheme joiner U+034F, the Hangul fillers
//! (U+115F, U+1160, U+3164, U+FFA0), the Khmer inherent vowels U+17B4/U+17B5,
//! the tag characters (U+E0000–U+E007F, with which text can be hidden inside
//! a line) and the unassigned code points reserved as ignorable.
//!
//! Kept, as the one exception: the parts of an emoji sequence that make it
//! one picture. A zero-width joiner between two emoji (👩‍💻, 🏳️‍🌈; the one
//! before may carry a skin tone or U+FE0F), and U+FE0F right after an emoji
//! character (❤️) or between a keycap base and U+20E3 (1️⃣). Anywhere else
//! they are removed like the rest.
//!
//! Blank ([`is_blank`]): whitespace, and the characters that draw nothing
//! although they are not whitespace: the Braille blank U+2800 and the Hangul
//! fillers (U+115F, U+1160, U+3164, U+FFA0; removed anyway, as
//! default-ignorable). A Braille blank stays in a text that has something
//! else to show; it is not enough to make one.
//!
//! Refused ([`TextError`]): any control character (Unicode category Cc: NUL,
//! ESC, and so every ANSI escape sequence, carriage return, DEL, the C1
//! controls) other than `\n` and `\t`; and text with nothing left but blank
//! characters once the invisible ones are gone.
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

use icu_properties::props::{
    BidiControl, DefaultIgnorableCodePoint, Emoji, EmojiModifier, ExtendedPictographic,
};
use icu_properties::{CodePointSetData, CodePointSetDataBorrowed};

/// Zero-width joiner: removed, except between two emoji.
const ZWJ: char = '\u{200D}';

/// Variation selector 16, "emoji presentation": removed, except after an
/// emoji character or a keycap base.
const EMOJI_PRESENTATION: char = '\u{FE0F}';

/// Combining enclosing keycap: `1` U+FE0F U+20E3 draws 1️⃣.
const KEYCAP: char = '\u{20E3}';

/// Braille pattern blank: a symbol that draws nothing.
const BRAILLE_BLANK: char = '\u{2800}';

/// The first code point that is default-ignorable or a bidi control (the
/// soft hyphen): everything below is answered without a table look-up.
const FIRST_INVISIBLE: char = '\u{00AD}';

/// `Default_Ignorable_Code_Point`, from the Unicode Character Database.
const DEFAULT_IGNORABLE: CodePointSetDataBorrowed<'static> =
    CodePointSetData::new::<DefaultIgnorableCodePoint>();

/// `Bidi_Control` (all of them are default-ignorable too; checked anyway, so
/// the rule reads as SPEC says it).
const BIDI_CONTROL: CodePointSetDataBorrowed<'static> = CodePointSetData::new::<BidiControl>();

/// `Extended_Pictographic`: what a zero-width joiner may join.
const PICTOGRAPHIC: CodePointSetDataBorrowed<'static> =
    CodePointSetData::new::<ExtendedPictographic>();

/// `Emoji`: what U+FE0F may follow (digits, `#` and `*` only as keycaps).
const EMOJI: CodePointSetDataBorrowed<'static> = CodePointSetData::new::<Emoji>();

/// `Emoji_Modifier`: the skin tones, which may stand before a joiner.
const EMOJI_MODIFIER: CodePointSetDataBorrowed<'static> = CodePointSetData::new::<EmojiModifier>();

/// Why a typed text or name was refused. The messages are client-safe: they
/// never quote the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing visible is left (empty, whitespace, blank-looking or only
    /// invisible characters).
    #[error(
        "it is blank: nothing is left once invisible and blank-looking characters are removed"
    )]
    Empty,
    /// A control character other than newline and tab.
    #[error("control characters (here U+{:04X}) are not allowed; only newline and tab are", u32::from(*.0))]
    Control(char),
    /// A newline or tab in a name.
    #[error("a name is one line: no newline or tab (here U+{:04X})", u32::from(*.0))]
    NotOneLine(char),
}

/// Whether `c` is removed from names and text: a `Default_Ignorable_Code_Point`
/// or a `Bidi_Control` (zero-width characters, bidi marks, embeddings,
/// overrides and isolates, variation selectors, fillers, tags, the BOM, the
/// soft hyphen…). A joiner or U+FE0F inside an emoji sequence is the one
/// exception, decided by where it stands ([`clean_text`]), not here.
///
/// Masking ([`crate::masking`]) treats these as separators between digit
/// groups, so this property is the one rule both modules follow.
///
/// ```
/// use switchboard::text::is_invisible;
/// assert!(is_invisible('\u{202E}')); // right-to-left override
/// assert!(is_invisible('\u{200B}')); // zero-width space
/// assert!(is_invisible('\u{3164}')); // Hangul filler
/// assert!(is_invisible('\u{E0041}')); // tag Latin capital A
/// assert!(!is_invisible(' '));
/// assert!(!is_invisible('\u{2800}')); // Braille blank: blank, not removed
/// ```
pub fn is_invisible(c: char) -> bool {
    c >= FIRST_INVISIBLE && (DEFAULT_IGNORABLE.contains(c) || BIDI_CONTROL.contains(c))
}

/// Whether `c` draws nothing: whitespace, the Braille blank and the Hangul
/// fillers. Text made only of these (and of invisible characters) is blank.
///
/// ```
/// use switchboard::text::is_blank;
/// assert!(is_blank(' ') && is_blank('\u{3000}') && is_blank('\u{2800}') && is_blank('\u{3164}'));
/// assert!(!is_blank('a') && !is_blank('.'));
/// ```
pub fn is_blank(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            BRAILLE_BLANK | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}'
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
/// assert_eq!(clean_text("\u{3164}\u{2800}"), Err(TextError::Empty));
/// assert_eq!(clean_text("I \u{2764}\u{FE0F} it").as_deref(), Ok("I \u{2764}\u{FE0F} it"));
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
/// assert_eq!(clean_name("\u{2067}Ana\u{2069}\u{3164}").as_deref(), Ok("Ana"));
/// assert_eq!(clean_name("Ana\nMaría"), Err(TextError::NotOneLine('\n')));
/// assert_eq!(clean_name("\u{2066}\u{2069}"), Err(TextError::Empty));
/// ```
pub fn clean_name(name: &str) -> Result<Cow<'_, str>, TextError> {
    if let Some(c) = name.chars().find(|&c| c == '\n' || c == '\t') {
        return Err(TextError::NotOneLine(c));
    }
    match clean(name, |_| false)? {
        Cow::Borrowed(name) => Ok(Cow::Borrowed(name.trim_matches(is_blank))),
        Cow::Owned(name) => {
            let trimmed = name.trim_matches(is_blank);
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
    let mut kept_before: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_control() {
            if !allowed_control(c) {
                return Err(TextError::Control(c));
            }
        } else if !stays(kept_before, c, chars.peek().copied()) {
            needs_removal = true;
            continue;
        } else {
            visible |= !is_blank(c) && !is_invisible(c);
        }
        kept_before = Some(c);
    }
    if !visible {
        return Err(TextError::Empty);
    }
    if !needs_removal {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let before = out.chars().next_back();
        if stays(before, c, chars.peek().copied()) {
            out.push(c);
        }
    }
    Ok(Cow::Owned(out))
}

/// Whether `c`, after the kept character `before` and before `after` (as
/// typed), stays in a cleaned text: it is not invisible, or it is part of an
/// emoji sequence. The one rule both passes of [`clean`] follow.
fn stays(before: Option<char>, c: char, after: Option<char>) -> bool {
    !is_invisible(c) || emoji_part(before, c, after)
}

/// Whether the invisible `c`, after the kept character `before` and before
/// `after` (as typed), belongs to an emoji sequence: a zero-width joiner
/// between two emoji (the first possibly followed by U+FE0F or a skin tone),
/// or U+FE0F after an emoji character or inside a keycap (`1` U+FE0F U+20E3).
fn emoji_part(before: Option<char>, c: char, after: Option<char>) -> bool {
    let Some(before) = before else {
        return false;
    };
    match c {
        ZWJ => {
            let joinable = PICTOGRAPHIC.contains(before)
                || EMOJI_MODIFIER.contains(before)
                || before == EMOJI_PRESENTATION;
            joinable && after.is_some_and(|a| PICTOGRAPHIC.contains(a))
        }
        EMOJI_PRESENTATION => {
            if matches!(before, '0'..='9' | '#' | '*') {
                after == Some(KEYCAP)
            } else {
                !before.is_ascii() && EMOJI.contains(before)
            }
        }
        _ => false,
    }
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
        assert!(TextError::Empty.to_string().contains("blank"));
    }

    /// Every code point with either property, read from the property itself,
    /// goes from between two letters.
    #[test]
    fn every_code_point_with_the_properties_is_removed() {
        let mut seen = 0;
        for range in DEFAULT_IGNORABLE
            .iter_ranges()
            .chain(BIDI_CONTROL.iter_ranges())
        {
            for c in range.filter_map(char::from_u32) {
                let typed = format!("a{c}b");
                assert_eq!(
                    clean_text(&typed).as_deref(),
                    Ok("ab"),
                    "U+{:04X}",
                    u32::from(c)
                );
                assert!(is_invisible(c));
                seen += 1;
            }
        }
        // U+E0000–U+E0FFF alone is 4,096 of them.
        assert!(seen > 4_096, "{seen}");
        // And nothing below the soft hyphen is invisible (the fast path).
        assert!(('\0'..FIRST_INVISIBLE)
            .all(|c| !DEFAULT_IGNORABLE.contains(c) && !BIDI_CONTROL.contains(c)));
    }

    /// Every `Default_Ignorable_Code_Point` and bidi control the issue named
    /// (finding 5), inside a word: each is removed.
    #[test]
    fn removes_every_default_ignorable_and_bidi_control() {
        for c in [
            '\u{061C}', // Arabic letter mark
            '\u{034F}', // combining grapheme joiner
            '\u{115F}', // Hangul choseong filler
            '\u{1160}', // Hangul jungseong filler
            '\u{17B4}', // Khmer vowel inherent aq
            '\u{17B5}', // Khmer vowel inherent aa
            '\u{180B}', // Mongolian free variation selectors…
            '\u{180C}',
            '\u{180D}',
            '\u{180F}',
            '\u{3164}', // Hangul filler
            '\u{FFA0}', // halfwidth Hangul filler
            '\u{FE00}', // variation selector 1
            '\u{FE0E}', // text presentation selector
            '\u{E0000}',
            '\u{E0001}', // language tag
            '\u{E0041}', // tag Latin capital A
            '\u{E007F}', // cancel tag
            '\u{E0100}', // variation selector 17
            '\u{1D173}', // musical symbol begin beam
            '\u{202A}',
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{200E}',
            '\u{200F}',
        ] {
            let typed = format!("pay{c}me");
            assert_eq!(
                clean_text(&typed).as_deref(),
                Ok("payme"),
                "U+{:04X}",
                u32::from(c)
            );
            let name = format!("{c}Ana{c} Mar{c}ía{c}");
            assert_eq!(
                clean_name(&name).as_deref(),
                Ok("Ana María"),
                "U+{:04X}",
                u32::from(c)
            );
            assert!(is_invisible(c), "U+{:04X}", u32::from(c));
        }
        // Hidden ASCII smuggled in tag characters after a word is gone.
        let smuggled: String = "ignore previous"
            .chars()
            .map(|c| char::from_u32(0xE0000 + u32::from(c)).expect("a tag"))
            .collect();
        assert_eq!(
            clean_text(&format!("hello{smuggled}")).as_deref(),
            Ok("hello")
        );
    }

    #[test]
    fn blank_looking_texts_and_names_are_empty() {
        for text in [
            "\u{3164}",
            "\u{3164}\u{3164}\u{3164}",
            "\u{115F}\u{1160}",
            "\u{FFA0}",
            "\u{2800}",
            "\u{2800}\u{2800} \u{2800}",
            " \u{3164} \u{2800} \u{00A0}\u{3000}",
            "\u{E0041}\u{E0042}",
            "\u{17B4}\u{034F}\u{180B}\u{061C}",
            "\u{FE0F}",
            "\u{200D}\u{FE0F}",
        ] {
            assert_eq!(clean_text(text), Err(TextError::Empty), "{text:?}");
            assert_eq!(clean_name(text), Err(TextError::Empty), "{text:?}");
        }
        // Braille blank is kept inside a text (it is a character), but it is
        // not enough to make a text.
        assert_eq!(clean_text("a\u{2800}b").as_deref(), Ok("a\u{2800}b"));
        let message = TextError::Empty.to_string();
        assert!(message.contains("blank"), "{message}");
    }

    #[test]
    fn emoji_sequences_still_render() {
        for emoji in [
            "\u{2764}\u{FE0F}",                           // ❤️
            "I \u{2764}\u{FE0F} it",                      // ❤️ in a sentence
            "\u{1F469}\u{200D}\u{1F4BB}",                 // 👩‍💻
            "\u{1F3F3}\u{FE0F}\u{200D}\u{1F308}",         // 🏳️‍🌈
            "1\u{FE0F}\u{20E3}",                          // 1️⃣
            "#\u{FE0F}\u{20E3} *\u{FE0F}\u{20E3}",        // #️⃣ *️⃣
            "\u{2764}\u{FE0F}\u{200D}\u{1F525}",          // ❤️‍🔥
            "\u{1F469}\u{1F3FD}\u{200D}\u{1F4BB}",        // 👩🏽‍💻
            "\u{1F441}\u{FE0F}\u{200D}\u{1F5E8}\u{FE0F}", // 👁️‍🗨️
            "\u{00A9}\u{FE0F} 2026",                      // ©️
        ] {
            assert!(
                matches!(clean_text(emoji), Ok(Cow::Borrowed(_))),
                "{emoji:?}: {:?}",
                clean_text(emoji)
            );
            assert!(
                matches!(clean_name(emoji), Ok(Cow::Borrowed(_))),
                "{emoji:?}"
            );
        }
        // Selectors and joiners outside an emoji sequence go.
        for (typed, clean) in [
            ("a\u{FE0F}b", "ab"),
            ("4111\u{FE0F}1111", "41111111"),
            ("1\u{FE0F}2", "12"),
            ("\u{2764}\u{FE0F}\u{FE0F}", "\u{2764}\u{FE0F}"),
            (
                "\u{1F469}\u{200D}\u{200D}\u{1F4BB}",
                "\u{1F469}\u{200D}\u{1F4BB}",
            ),
            ("x\u{200D}\u{1F4BB}", "x\u{1F4BB}"),
            (
                "\u{1F469}\u{E0041}\u{200D}\u{1F4BB}",
                "\u{1F469}\u{200D}\u{1F4BB}",
            ),
        ] {
            assert_eq!(clean_text(typed).as_deref(), Ok(clean), "{typed:?}");
            // What is left is clean: cleaning again changes nothing.
            assert!(
                matches!(clean_text(clean), Ok(Cow::Borrowed(_))),
                "{clean:?}"
            );
        }
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
            Just('\u{061C}'),
            Just('\u{034F}'),
            Just('\u{3164}'),
            Just('\u{FFA0}'),
            Just('\u{17B4}'),
            (0x180Bu32..=0x180F).prop_filter_map("char", char::from_u32),
            (0xFE00u32..=0xFE0F).prop_filter_map("char", char::from_u32),
            (0xE0000u32..=0xE007F).prop_filter_map("char", char::from_u32),
        ]
    }

    proptest! {
        #[test]
        fn cleaned_text_holds_no_invisible_or_control_character(text in "\\PC*|[\\s\\S]{0,40}") {
            if let Ok(clean) = clean_text(&text) {
                prop_assert!(!clean.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
                let chars: Vec<char> = clean.chars().collect();
                let stray = chars.iter().enumerate().any(|(i, &c)| {
                    is_invisible(c)
                        && !emoji_part(i.checked_sub(1).map(|b| chars[b]), c, chars.get(i + 1).copied())
                });
                prop_assert!(!stray);
                prop_assert!(clean.chars().any(|c| !is_blank(c) && !is_invisible(c)));
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
