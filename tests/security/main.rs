//! Black-box security suite (SECURITY.md, issue 10): data-driven corpora under `corpora/`,
//! each sent to a real Gatehouse over HTTP or a raw socket. A failing case names its corpus
//! line; every corpus asserts its minimum size so that it cannot silently shrink.

#[path = "../support/mod.rs"]
mod support;

mod framing;
mod header_spoofing;
mod host_confusion;
mod jwt_tampering;
mod open_redirect;
mod paths;
mod raw_replay;
mod replay;
mod token_extraction;
mod usernames;

/// One corpus line: where it is (for failure messages) and its tab-separated fields, unescaped.
#[derive(Debug)]
pub struct Case {
    pub line: usize,
    pub fields: Vec<String>,
}

impl Case {
    pub fn field(&self, i: usize) -> &str {
        self.fields
            .get(i)
            .unwrap_or_else(|| panic!("line {}: field {i} missing", self.line))
    }
}

/// Parses a corpus: blank lines and lines starting with `#` are comments; fields are
/// tab-separated and unescaped (`\r`, `\n`, `\t`, `\\`, `\xHH`, `\u{HEX}`, and `{c*N}` for
/// `N` copies of `c`, so that oversized cases stay readable).
pub fn corpus(text: &str, min: usize) -> Vec<Case> {
    let cases: Vec<Case> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| Case {
            line: i + 1,
            fields: l.split('\t').map(unescape).collect(),
        })
        .collect();
    assert!(
        cases.len() >= min,
        "corpus shrank: {} cases, at least {min} required",
        cases.len()
    );
    cases
}

pub fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('r') => out.push('\r'),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('\\') => out.push('\\'),
                Some('x') => {
                    let hex: String = chars.by_ref().take(2).collect();
                    out.push(u8::from_str_radix(&hex, 16).expect("\\xHH") as char);
                }
                Some('u') => {
                    assert_eq!(chars.next(), Some('{'), "\\u{{HEX}} in {s:?}");
                    let hex: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    let code = u32::from_str_radix(&hex, 16).expect("\\u{HEX}");
                    out.push(char::from_u32(code).expect("a Unicode scalar value"));
                }
                other => panic!("unknown escape \\{other:?} in {s:?}"),
            },
            '{' if s.contains('*') => {
                let spec: String = chars.by_ref().take_while(|&c| c != '}').collect();
                match spec.split_once('*') {
                    Some((what, n)) => {
                        out.push_str(&unescape(what).repeat(n.parse().expect("{c*N}")))
                    }
                    None => {
                        out.push('{');
                        out.push_str(&spec);
                        out.push('}');
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}
