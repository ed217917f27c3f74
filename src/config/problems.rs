//! The problem list every section check writes into, and the value parsers shared by sections
//! (durations, socket addresses, enum choices) that report a bad value under its key.

use super::duration::parse_duration;
use super::raw::OneOf;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Collects problems instead of stopping at the first, so one run shows everything to fix.
/// Each message starts with the key it is about (`routes[2].auth: …`).
pub(super) struct Problems(Vec<String>);

impl Problems {
    pub(super) fn new() -> Self {
        Problems(Vec::new())
    }

    pub(super) fn push(&mut self, msg: String) {
        self.0.push(msg);
    }

    /// The problems found, or `None` when the file was clean.
    pub(super) fn into_problems(self) -> Option<Vec<String>> {
        (!self.0.is_empty()).then_some(self.0)
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
