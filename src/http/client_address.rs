//! Who the client is: the TCP peer, unless the peer is a trusted proxy, in which case the
//! rightmost address of its `X-Forwarded-For` (or, without one, `Forwarded`) that is not itself
//! a trusted proxy. Addresses left of that one were written by the client and prove nothing.

use http::header::{HeaderMap, HeaderName};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: &[IpNet]) -> Self {
        TrustedProxies(nets.to_vec())
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(&ip))
    }

    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let mut client = peer?;
        if !self.contains(client) {
            return Some(client);
        }
        let hops: Vec<&str> = if headers.contains_key(&XFF) {
            list_items(headers, &XFF).collect()
        } else {
            list_items(headers, &FORWARDED)
                .flat_map(|element| element.split(';'))
                .filter_map(|pair| {
                    let (key, value) = pair.split_once('=')?;
                    key.trim().eq_ignore_ascii_case("for").then(|| value.trim())
                })
                .collect()
        };
        for hop in hops.into_iter().rev() {
            // An unreadable hop was written by someone we do not trust: stop at the proxy
            // that handed it over.
            let Some(ip) = parse_hop(hop) else { break };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        Some(client)
    }
}

/// The comma-separated items of every field line of `name`, in order.
fn list_items<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]:4711`, and the quoted forms
/// `Forwarded` uses.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim_matches('"');
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = hop.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    /// (peer, request headers, the client address we must settle on)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

    #[test]
    fn forwarded_addresses_count_only_from_trusted_peers() {
        let trusted = TrustedProxies::new(&["10.0.0.0/8".parse().unwrap()]);
        let cases: &[Case] = &[
            // Untrusted peer: its headers are ignored.
            (
                "192.0.2.9",
                &[("x-forwarded-for", "203.0.113.5")],
                "192.0.2.9",
            ),
            // Trusted peer: the rightmost untrusted hop, not what the client prepended.
            (
                "10.0.0.2",
                &[("x-forwarded-for", "1.1.1.1, 203.0.113.5")],
                "203.0.113.5",
            ),
            (
                "10.0.0.2",
                &[
                    ("x-forwarded-for", "1.1.1.1"),
                    ("x-forwarded-for", "203.0.113.5, 10.0.0.7"),
                ],
                "203.0.113.5",
            ),
            (
                "10.0.0.2",
                &[("x-forwarded-for", "203.0.113.5:4711")],
                "203.0.113.5",
            ),
            (
                "10.0.0.2",
                &[("x-forwarded-for", "[2001:db8::1]:80")],
                "2001:db8::1",
            ),
            // Garbage from the client stops the walk at the proxy that forwarded it.
            (
                "10.0.0.2",
                &[("x-forwarded-for", "203.0.113.5, nonsense")],
                "10.0.0.2",
            ),
            ("10.0.0.2", &[], "10.0.0.2"),
            // Every hop trusted: the leftmost one is the client.
            (
                "10.0.0.2",
                &[("x-forwarded-for", "10.1.1.1, 10.2.2.2")],
                "10.1.1.1",
            ),
            (
                "10.0.0.2",
                &[(
                    "forwarded",
                    "for=1.1.1.1, for=\"[2001:db8::2]:4711\";proto=https",
                )],
                "2001:db8::2",
            ),
            // X-Forwarded-For wins when both are present.
            (
                "10.0.0.2",
                &[
                    ("forwarded", "for=1.1.1.1"),
                    ("x-forwarded-for", "203.0.113.5"),
                ],
                "203.0.113.5",
            ),
        ];
        for (peer, h, want) in cases {
            assert_eq!(
                trusted.client_ip(ip(peer), &headers(h)),
                ip(want),
                "{peer} {h:?}"
            );
        }
        assert_eq!(trusted.client_ip(None, &headers(&[])), None);
    }
}
