//! Secret values: written in the file as `"${ENV_VAR}"`, or as a path in a sibling `*_file` key.
//! The resolved value is wrapped so that it cannot end up in a log or a `Debug` dump.

use std::fmt;

/// Compared only to tell whether a reloaded config changed a value (`crate::reload`).
#[derive(Clone, PartialEq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: String) -> Self {
        SecretString(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// Resolves a secret given inline (with `${VAR}` expansion) or through a file.
/// `key` is the dotted config key, used in every error.
pub fn resolve(
    key: &str,
    inline: Option<&str>,
    file: Option<&str>,
) -> Result<Option<SecretString>, String> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(format!(
            "{key}: give either `{key}` or `{key}_file`, not both"
        )),
        (Some(text), None) => expand_env(key, text).map(|v| Some(SecretString(v))),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|v| Some(SecretString(v.trim_end_matches(['\n', '\r']).to_string())))
            .map_err(|e| format!("{key}_file: cannot read `{path}`: {e}")),
        (None, None) => Ok(None),
    }
}

/// A 256-bit key written as 64 hex digits or as base64 (`openssl rand -base64 32`).
pub fn parse_key(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()?
    } else {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?
    };
    bytes.try_into().ok()
}

/// Replaces every `${NAME}` by the environment variable's value; an unset variable is an error.
fn expand_env(key: &str, text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("{key}: unterminated `${{` in value"))?;
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "{key}: `${{{name}}}` is not a valid environment variable name"
            ));
        }
        let value = std::env::var(name)
            .map_err(|_| format!("{key}: environment variable `{name}` is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_env_and_reports_missing() {
        std::env::set_var("GATEHOUSE_TEST_SECRET_X", "s3cret");
        let v = resolve("store.url", Some("a${GATEHOUSE_TEST_SECRET_X}b"), None).unwrap();
        assert_eq!(v.unwrap().expose(), "as3cretb");
        let err = resolve("store.url", Some("${GATEHOUSE_TEST_UNSET_Y}"), None).unwrap_err();
        assert!(err.contains("store.url") && err.contains("GATEHOUSE_TEST_UNSET_Y"));
    }

    #[test]
    fn unreadable_file_names_key() {
        let err = resolve("store.url", None, Some("/nonexistent/x")).unwrap_err();
        assert!(err.starts_with("store.url_file"), "{err}");
    }

    #[test]
    fn debug_hides_value() {
        assert_eq!(
            format!("{:?}", SecretString::new("pw".into())),
            "SecretString(***)"
        );
    }
}
