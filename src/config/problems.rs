//! The problem list every section check writes into, and the value parsers shared by sections
//! (durations, socket addresses, enum choices) that report a bad value under its key.

use super::duration::parse_duration;
use super::raw::OneOf;
use super::secret::{self, SecretString};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// What validation may consult besides the file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outside {
    /// DNS, files and the environment: how a config is loaded for real.
    Process,
    /// Nothing: literal socket addresses only, no `${ENV}`, no `*_file`. The fuzzer feeds the
    /// loader arbitrary text, which must not make it resolve names, block on a file such as
    /// `/dev/stdin`, or depend on the machine it runs on.
    Nothing,
}

/// Collects problems instead of stopping at the first, so one run shows everything to fix.
/// Each message starts with the key it is about (`routes[2].auth: …`).
pub(super) struct Problems {
    found: Vec<String>,
    outside: Outside,
}

impl Problems {
    pub(super) fn new(outside: Outside) -> Self {
        Problems {
            found: Vec::new(),
            outside,
        }
    }

    pub(super) fn push(&mut self, msg: String) {
        self.found.push(msg);
    }

    /// The problems found, or `None` when the file was clean.
    pub(super) fn into_problems(self) -> Option<Vec<String>> {
        (!self.found.is_empty()).then_some(self.found)
    }

    /// `secret::resolve`, unless it would read the environment or a file where nothing
    /// outside may be consulted.
    pub(super) fn secret(
        &self,
        key: &str,
        inline: Option<&str>,
        file: Option<&str>,
    ) -> Result<Option<SecretString>, String> {
        if self.outside == Outside::Nothing {
            match (inline, file) {
                (Some(text), None) if text.contains("${") => {
                    return Err(format!("{key}: `${{…}}` is not expanded here"))
                }
                (None, Some(_)) => return Err(format!("{key}_file: files are not read here")),
                _ => {}
            }
        }
        secret::resolve(key, inline, file)
    }

    /// The bytes of a file the config names (a public key).
    pub(super) fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
        match self.outside {
            Outside::Process => std::fs::read(path),
            Outside::Nothing => Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "files are not read here",
            )),
        }
    }

    pub(super) fn duration(
        &mut self,
        key: &str,
        value: Option<&str>,
        default: Duration,
    ) -> Duration {
        match value.map(parse_duration) {
            None => default,
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                self.push(format!("{key}: bad duration {e}"));
                default
            }
        }
    }

    pub(super) fn socket_addr(&mut self, key: &str, value: &str) -> Option<SocketAddr> {
        if self.outside == Outside::Nothing {
            return match value.parse() {
                Ok(a) => Some(a),
                Err(_) => {
                    self.push(format!(
                        "{key}: `{value}` is not a literal address (names are not resolved here)"
                    ));
                    None
                }
            };
        }
        // Resolved here, once: peers on the request path are plain addresses (no DNS per request).
        match value.to_socket_addrs() {
            Ok(mut addrs) => match addrs.next() {
                Some(a) => Some(a),
                None => {
                    self.push(format!("{key}: `{value}` resolves to no address"));
                    None
                }
            },
            Err(e) => {
                self.push(format!("{key}: `{value}` is not a usable host:port ({e})"));
                None
            }
        }
    }

    /// The variant serde read, `default` when the key is absent. An unknown spelling is
    /// reported through `problem` (given the text as written) and the default stands in, so the
    /// rest of the file is still checked.
    pub(super) fn choice<T>(
        &mut self,
        value: Option<OneOf<T>>,
        default: T,
        problem: impl FnOnce(&str) -> String,
    ) -> T {
        match value {
            None => default,
            Some(OneOf::Known(v)) => v,
            Some(OneOf::Unknown(text)) => {
                self.push(problem(&text));
                default
            }
        }
    }
}
