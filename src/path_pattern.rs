//! Path patterns of policy rules, matched on the canonical path (`path::normalize_path`):
//! `*` is exactly one segment, `**` any number of segments (none included), anything else a
//! literal segment. A trailing `/` adds no segment (`/admin/x/` is `/admin/x` to a pattern),
//! so a deny rule cannot be stepped around by adding one. Compiled once at config load; matching walks the path in place, so a
//! request costs no allocation. Imports nothing from the crate.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(Box<str>),
    One,
    Many,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    text: Box<str>,
    segments: Box<[Segment]>,
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PathPattern {
    /// Refuses what no canonical path could ever match, so a typo cannot silently never match.
    pub fn parse(text: &str) -> Result<PathPattern, String> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err("must start with `/`".into());
        };
        if text.contains(['?', '#', '%', '\\', ';']) {
            return Err("a pattern is a plain path: no `?`, `#`, `%`, `\\` or `;`".into());
        }
        let mut segments = Vec::new();
        let parts: Vec<&str> = without_trailing_slash(rest).split('/').collect();
        for part in &parts {
            let segment = match *part {
                "*" => Segment::One,
                "**" => Segment::Many,
                "." | ".." => return Err("`.` and `..` never appear in a normalized path".into()),
                // Only the root's single segment may be empty.
                "" if parts.len() > 1 => {
                    return Err("`//` never appears in a normalized path".into())
                }
                p if p.contains('*') => {
                    return Err(format!("`{p}`: `*` and `**` stand for whole segments only"))
                }
                p => Segment::Literal(p.into()),
            };
            segments.push(segment);
        }
        Ok(PathPattern {
            text: text.into(),
            segments: segments.into_boxed_slice(),
        })
    }

    /// `path` is canonical (starts with `/`). Wildcard matching over segments with a single
    /// backtracking point, as glob matching does over characters: linear for one `**`,
    /// bounded by pattern × path segments in general.
    pub fn matches(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let rest = without_trailing_slash(rest);
        let pat = &self.segments;
        let mut p = 0;
        let mut segs = rest.split('/');
        // Where the last `**` started and the path position it has consumed up to.
        let mut star: Option<(usize, std::str::Split<'_, char>)> = None;
        loop {
            let mut ahead = segs.clone();
            match ahead.next() {
                Some(seg) => {
                    match pat.get(p) {
                        Some(Segment::One) => {
                            p += 1;
                            segs = ahead;
                            continue;
                        }
                        Some(Segment::Literal(l)) if **l == *seg => {
                            p += 1;
                            segs = ahead;
                            continue;
                        }
                        Some(Segment::Many) => {
                            star = Some((p, segs.clone()));
                            p += 1;
                            continue;
                        }
                        _ => {}
                    }
                    // Mismatch: let the last `**` swallow one more segment, or fail.
                    let Some((at, mut consumed)) = star.take() else {
                        return false;
                    };
                    consumed.next();
                    segs = consumed.clone();
                    star = Some((at, consumed));
                    p = at + 1;
                }
                None => {
                    return pat
                        .get(p..)
                        .is_some_and(|left| left.iter().all(|s| *s == Segment::Many))
                }
            }
        }
    }
}

/// `a/b/` → `a/b`; the root's empty remainder stays as it is.
fn without_trailing_slash(rest: &str) -> &str {
    rest.strip_suffix('/').unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        PathPattern::parse(pattern).unwrap().matches(path)
    }

    #[test]
    fn star_is_one_segment_and_double_star_any_number() {
        let cases: &[(&str, &str, bool)] = &[
            ("/docs/*", "/docs/a", true),
            ("/docs/*", "/docs", false),
            ("/docs/*", "/docs/a/b", false),
            ("/docs/*", "/docs/", false),
            ("/docs/*", "/docs/a/", true),
            ("/docs/", "/docs", true),
            ("/admin/**", "/admin/", true),
            ("/docs/**", "/docs", true),
            ("/docs/**", "/docs/a", true),
            ("/docs/**", "/docs/a/b/c", true),
            ("/docs/**", "/docsx/a", false),
            ("/items/*/edit", "/items/7/edit", true),
            ("/items/*/edit", "/items/7/8/edit", false),
            ("/items/*/edit", "/items/edit", false),
            ("/items/**/edit", "/items/edit", true),
            ("/items/**/edit", "/items/7/8/edit", true),
            ("/items/**/edit", "/items/7/8/edit/x", false),
            ("/a/**/b/**/c", "/a/x/b/y/b/z/c", true),
            ("/a/**/b/**/c", "/a/x/b/y/c/d", false),
            ("/**", "/", true),
            ("/**", "/anything/at/all", true),
            ("/*", "/", true),
            ("/", "/", true),
            ("/", "/a", false),
            ("/a/b", "/a/b", true),
            ("/a/b", "/a/B", false),
            ("/a/*/c/**", "/a/b/c", true),
            ("/**/secret", "/x/y/secret", true),
            ("/**/secret", "/secret", true),
            ("/**/secret", "/secret/x", false),
        ];
        for (pattern, path, want) in cases {
            assert_eq!(m(pattern, path), *want, "{pattern} vs {path}");
        }
    }

    #[test]
    fn patterns_no_canonical_path_can_match_are_refused() {
        for bad in [
            "docs/*",
            "/docs/../x",
            "/docs/./x",
            "/a//b",
            "/docs*",
            "/a/b**",
            "/a?x=1",
            "/a%2f",
            "/a;b",
        ] {
            assert!(PathPattern::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(PathPattern::parse("/a/*").unwrap().to_string(), "/a/*");
    }
}
