//! The username profile: what a new username may be, the form it is stored and shown in, and
//! the two keys that make it unique (its case-mapped form and its confusable skeleton).
//!
//! It follows RFC 8265: the stored form is UsernameCasePreserved (width mapping, NFC), the
//! uniqueness key UsernameCaseMapped (the same, lowercased). It is stricter than the PRECIS
//! IdentifierClass, so that one name cannot pass for another on the consent page or in an
//! identity header: letters and digits that UTS #39 allows in identifiers, combining marks only
//! after a letter, a few ASCII punctuation marks, one script (UTS #39 "highly restrictive"), and
//! no two names with the same confusable skeleton.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
use unicode_security::{GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection};

pub const MAX_CHARS: usize = 64;

/// ASCII punctuation a username may hold besides letters and digits (e-mail-like names).
pub const PUNCTUATION: [char; 5] = ['.', '_', '-', '@', '+'];

/// A username the profile accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    /// Stored, shown on the consent page and sent in the identity header.
    pub display: String,
    /// Two names with the same key are one name (`Alice`, `ALICE`, `ａｌｉｃｅ`).
    pub key: String,
    /// Two names with the same skeleton look alike (`alice`, `a1ice`, Cyrillic `аlice`).
    pub skeleton: String,
}

/// Why the profile refused a name. Each has its own message, naming the offending character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Empty,
    TooLong,
    Control(char),
    /// Cf: invisible, yet changes what is shown (U+200B, U+202E, U+FEFF).
    Format(char),
    /// Zl, Zp: U+2028, U+2029 break a header or a page line.
    Separator(char),
    Space(char),
    /// A combining mark with no letter before it stacks onto whatever precedes the name.
    StrayMark(char),
    NotAllowed(char),
    /// Punctuation alone (`...`, `@`) names nobody.
    NoLetter,
    /// More than one script. Carries the skeleton: a name that imitates an existing one is
    /// answered as taken rather than as malformed.
    MixedScripts {
        skeleton: String,
    },
}

impl Refusal {
    /// The skeleton of a name refused for its scripts alone, to look for whom it imitates.
    pub fn skeleton(&self) -> Option<&str> {
        match self {
            Refusal::MixedScripts { skeleton } => Some(skeleton),
            _ => None,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::Empty => "username must not be empty".into(),
            Refusal::TooLong => format!("username must be at most {MAX_CHARS} characters"),
            Refusal::Control(c) => {
                format!("username must not contain control characters ({})", hex(*c))
            }
            Refusal::Format(c) => format!(
                "username must not contain invisible formatting characters ({})",
                hex(*c)
            ),
            Refusal::Separator(c) => format!(
                "username must not contain line or paragraph separators ({})",
                hex(*c)
            ),
            Refusal::Space(c) => format!("username must not contain spaces ({})", hex(*c)),
            Refusal::StrayMark(c) => format!(
                "a combining mark ({}) in a username must follow a letter",
                hex(*c)
            ),
            Refusal::NotAllowed(c) => format!(
                "username may contain only letters, digits and . _ - @ + ({} is not allowed)",
                hex(*c)
            ),
            Refusal::NoLetter => "username must contain a letter or digit".into(),
            Refusal::MixedScripts { .. } => {
                "username must be written in one script (do not mix e.g. Latin and Cyrillic letters)"
                    .into()
            }
        }
    }
}

fn hex(c: char) -> String {
    format!("U+{:04X}", c as u32)
}

/// Prepares and enforces a new username. Existing accounts are never re-checked: logins look
/// users up by `username_key` alone, so a name accepted under older rules keeps working.
pub fn enforce(input: &str) -> Result<Username, Refusal> {
    let display: String = width_mapped(input).nfc().collect();
    let count = display.chars().count();
    if count == 0 {
        return Err(Refusal::Empty);
    }
    if count > MAX_CHARS {
        return Err(Refusal::TooLong);
    }
    let mut after_base = false;
    for c in display.chars() {
        after_base = check_char(c, after_base)?;
    }
    if display.chars().all(|c| PUNCTUATION.contains(&c)) {
        return Err(Refusal::NoLetter);
    }
    let key = username_key(&display);
    let skeleton = confusable_skeleton(&key);
    if !one_script(&display) {
        return Err(Refusal::MixedScripts { skeleton });
    }
    Ok(Username {
        display,
        key,
        skeleton,
    })
}

/// The uniqueness key: NFKC, then lowercase. Unchanged from before the profile existed, since
/// stored keys and logins depend on it; for names the profile accepts, NFKC changes nothing
/// but width, which `enforce` already mapped.
pub fn username_key(username: &str) -> String {
    username.nfkc().collect::<String>().to_lowercase()
}

/// UTS #39 skeleton of a username key, lowercased once more: prototypes can be capitals
/// (digit zero's is `O`), and a case-insensitive name must not escape a match by case.
pub fn confusable_skeleton(key: &str) -> String {
    unicode_security::skeleton(key)
        .collect::<String>()
        .to_lowercase()
}

/// RFC 8264 width mapping: fullwidth and halfwidth forms become their ordinary counterparts.
fn width_mapped(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        if matches!(c, '\u{3000}' | '\u{FF01}'..='\u{FFEE}') {
            out.extend(std::iter::once(c).nfkc());
        } else {
            out.push(c);
        }
    }
    out
}

/// Checks one character; returns whether a combining mark may follow it.
fn check_char(c: char, after_base: bool) -> Result<bool, Refusal> {
    if c.is_ascii_alphanumeric() {
        return Ok(true);
    }
    if PUNCTUATION.contains(&c) {
        return Ok(false);
    }
    use GeneralCategory as G;
    match c.general_category() {
        G::Control => Err(Refusal::Control(c)),
        G::Format => Err(Refusal::Format(c)),
        G::LineSeparator | G::ParagraphSeparator => Err(Refusal::Separator(c)),
        G::SpaceSeparator => Err(Refusal::Space(c)),
        G::NonspacingMark | G::SpacingMark | G::EnclosingMark if !after_base => {
            Err(Refusal::StrayMark(c))
        }
        // Identifier_Status=Allowed leaves out obsolete and limited-use scripts and every
        // character that NFKC would change (ligatures, superscripts, letterlike symbols).
        G::NonspacingMark
        | G::SpacingMark
        | G::UppercaseLetter
        | G::LowercaseLetter
        | G::ModifierLetter
        | G::OtherLetter
        | G::DecimalNumber
            if c.identifier_allowed() =>
        {
            Ok(true)
        }
        _ => Err(Refusal::NotAllowed(c)),
    }
}

/// UTS #39 "highly restrictive": one script, or Latin with Han and Japanese kana or Korean
/// Hangul (as names in those languages are written). The ASCII punctuation is Common script
/// and no identifier character, so it is left out of the detection.
fn one_script(display: &str) -> bool {
    let letters: String = display
        .chars()
        .filter(|c| !PUNCTUATION.contains(c))
        .collect();
    letters.as_str().detect_restriction_level() <= RestrictionLevel::HighlyRestrictive
}

#[cfg(test)]
mod tests {
    use super::*;

    enum Expect {
        /// Accepted, stored as this.
        Stored(&'static str),
        Accepted,
        Refused(fn(&Refusal) -> bool),
    }
    use Expect::*;

    #[test]
    fn the_profile_accepts_and_refuses() {
        let cases: &[(&str, Expect)] = &[
            ("alice", Stored("alice")),
            ("Alice", Stored("Alice")),
            ("ａｌｉｃｅ", Stored("alice")),
            ("ＡＬＩＣＥ", Stored("ALICE")),
            ("ｶﾞ", Stored("ガ")),
            ("Δημήτρης", Stored("Δημήτρης")),
            ("山田", Stored("山田")),
            ("山田たろう", Stored("山田たろう")),
            ("佐々木", Stored("佐々木")),
            ("김민준", Stored("김민준")),
            ("Иван", Stored("Иван")),
            ("josé", Stored("josé")),
            ("jose\u{301}", Stored("josé")),
            (
                "user.name+tag@example.com",
                Stored("user.name+tag@example.com"),
            ),
            ("o_o-1", Stored("o_o-1")),
            (&"a".repeat(64), Accepted),
            ("", Refused(|r| *r == Refusal::Empty)),
            (&"a".repeat(65), Refused(|r| *r == Refusal::TooLong)),
            (
                "\u{430}lice",
                Refused(|r| matches!(r, Refusal::MixedScripts { .. })),
            ),
            (
                "p\u{430}ypal",
                Refused(|r| matches!(r, Refusal::MixedScripts { .. })),
            ),
            (
                "\u{3b1}lpha",
                Refused(|r| matches!(r, Refusal::MixedScripts { .. })),
            ),
            (
                "a\u{200B}lice",
                Refused(|r| *r == Refusal::Format('\u{200B}')),
            ),
            (
                "\u{202E}ecila",
                Refused(|r| *r == Refusal::Format('\u{202E}')),
            ),
            (
                "\u{FEFF}alice",
                Refused(|r| *r == Refusal::Format('\u{FEFF}')),
            ),
            (
                "al\u{200D}ice",
                Refused(|r| *r == Refusal::Format('\u{200D}')),
            ),
            (
                "al\u{2028}ice",
                Refused(|r| *r == Refusal::Separator('\u{2028}')),
            ),
            (
                "al\u{2029}ice",
                Refused(|r| *r == Refusal::Separator('\u{2029}')),
            ),
            ("al\u{7}ice", Refused(|r| *r == Refusal::Control('\u{7}'))),
            ("alice\n", Refused(|r| *r == Refusal::Control('\n'))),
            ("al ice", Refused(|r| *r == Refusal::Space(' '))),
            ("al\u{A0}ice", Refused(|r| *r == Refusal::Space('\u{A0}'))),
            ("alice\u{3000}", Refused(|r| *r == Refusal::Space(' '))),
            ("\u{301}", Refused(|r| *r == Refusal::StrayMark('\u{301}'))),
            (
                "\u{301}alice",
                Refused(|r| *r == Refusal::StrayMark('\u{301}')),
            ),
            (
                "alice.\u{301}",
                Refused(|r| *r == Refusal::StrayMark('\u{301}')),
            ),
            ("...", Refused(|r| *r == Refusal::NoLetter)),
            ("@+", Refused(|r| *r == Refusal::NoLetter)),
            ("alice!", Refused(|r| *r == Refusal::NotAllowed('!'))),
            ("<b>", Refused(|r| *r == Refusal::NotAllowed('<'))),
            (
                "\u{FB01}le",
                Refused(|r| *r == Refusal::NotAllowed('\u{FB01}')),
            ),
            ("x\u{B2}", Refused(|r| *r == Refusal::NotAllowed('\u{B2}'))),
            (
                "\u{1F600}",
                Refused(|r| *r == Refusal::NotAllowed('\u{1F600}')),
            ),
            (
                "al\u{E000}",
                Refused(|r| *r == Refusal::NotAllowed('\u{E000}')),
            ),
            ("ℌello", Refused(|r| *r == Refusal::NotAllowed('ℌ'))),
        ];
        for (input, expect) in cases {
            match (enforce(input), expect) {
                (Ok(u), Stored(display)) => assert_eq!(u.display, *display, "{input:?}"),
                (Ok(_), Accepted) => {}
                (Err(r), Refused(is)) => {
                    assert!(is(&r), "{input:?}: refused for another reason: {r:?}");
                    assert!(r.message().contains("username"), "{}", r.message());
                }
                (got, _) => panic!("{input:?}: unexpected {got:?}"),
            }
        }
    }

    #[test]
    fn nfc_and_nfd_input_are_one_name() {
        let nfc = enforce("Jos\u{e9}").unwrap();
        let nfd = enforce("Jose\u{301}").unwrap();
        assert_eq!(nfc, nfd);
        assert_eq!(nfc.key, "jos\u{e9}");
        assert_eq!(
            username_key("JOSE\u{301}"),
            nfc.key,
            "logins find the same key"
        );
    }

    #[test]
    fn look_alikes_share_a_skeleton() {
        let alice = enforce("alice").unwrap().skeleton;
        for other in ["ALICE", "ａｌｉｃｅ", "a1ice", "al\u{131}ce"] {
            assert_eq!(
                enforce(other).map(|u| u.skeleton),
                Ok(alice.clone()),
                "{other}"
            );
        }
        match enforce("\u{430}lice") {
            Err(Refusal::MixedScripts { skeleton }) => assert_eq!(skeleton, alice),
            other => panic!("{other:?}"),
        }
        // Whole-script look-alikes pass the script rule; only the skeleton catches them.
        let ceo = enforce("\u{441}\u{435}\u{43e}").unwrap();
        assert_eq!(ceo.skeleton, enforce("ceo").unwrap().skeleton);
        assert_eq!(
            enforce("b0b").unwrap().skeleton,
            enforce("bob").unwrap().skeleton
        );
        assert_ne!(
            enforce("bob").unwrap().skeleton,
            enforce("rob").unwrap().skeleton
        );
    }
}
