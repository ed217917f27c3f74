//! Identity headers: every configured name is removed from the client's request (any case,
//! every duplicate, `_` spellings too, since some servers fold `_` into `-`), then set from the
//! validated token. Client-sent forwarding headers are dropped unless the peer is trusted.

use super::client_address::TrustedProxies;
use super::HeadEdit;
use crate::auth::{Identity, IdentityHeaderValues};
use crate::config::IdentityHeadersConfig;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use ipnet::IpNet;
use std::cell::RefCell;
use std::net::IpAddr;

/// Headers through which a client could claim an address, scheme, host or path the proxy did
/// not see. Rack trusts `X-Forwarded-Ssl: on`; IIS and Symfony take the path from
/// `X-Original-URL`/`X-Rewrite-URL`, around our canonicalisation; nginx's `auth_request`
/// describes the request in `X-Original-URI`. Kept only from trusted peers.
const FORWARDING: [&str; 17] = [
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-ssl",
    "x-forwarded-scheme",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-forwarded-uri",
    "forwarded",
    "x-real-ip",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-client-ip",
    "client-ip",
    "true-client-ip",
];
const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
const XFP: HeaderName = HeaderName::from_static("x-forwarded-proto");

pub struct IdentityHeaders {
    pub user_id: HeaderName,
    pub user_name: HeaderName,
    pub scopes: HeaderName,
    pub client_id: HeaderName,
    pub groups: HeaderName,
    pub issuer: HeaderName,
    /// Lowercase, `-` spelling: everything stripped from clients.
    strip: Vec<String>,
    /// Bit `n` set: some name in `strip` is `n` bytes long (names of 64 bytes or more are
    /// always compared). Most request headers are ruled out by their length alone.
    strip_lengths: u64,
    trusted_proxies: TrustedProxies,
}

/// Bit `n` set: some name in `FORWARDING` is `n` bytes long.
const FORWARDING_LENGTHS: u64 = {
    let mut mask = 0u64;
    let mut i = 0;
    while i < FORWARDING.len() {
        mask |= 1 << FORWARDING[i].len();
        i += 1;
    }
    mask
};

/// Whether a name of `len` bytes could be in a list whose lengths are `mask`.
fn may_match(mask: u64, len: usize) -> bool {
    len >= 64 || mask & (1 << len) != 0
}

thread_local! {
    /// The last peer address and its `X-Forwarded-For` value: a keep-alive connection's
    /// requests (and most of a worker's connections) come from one address, so the value is
    /// formatted once and shared, not rebuilt per request.
    static LAST_PEER: RefCell<Option<(IpAddr, HeaderValue)>> = const { RefCell::new(None) };
}

impl IdentityHeaders {
    pub fn new(config: &IdentityHeadersConfig, trusted_proxies: &[IpNet]) -> Result<Self, String> {
        let name = |v: &str| {
            HeaderName::from_bytes(v.as_bytes()).map_err(|_| format!("bad header name `{v}`"))
        };
        let mut strip: Vec<String> = [
            &config.user_id,
            &config.user_name,
            &config.scopes,
            &config.client_id,
            &config.groups,
            &config.issuer,
        ]
        .into_iter()
        .chain(config.also_strip.iter())
        .map(|h| h.to_ascii_lowercase().replace('_', "-"))
        .collect();
        strip.sort();
        strip.dedup();
        let strip_lengths = strip
            .iter()
            .filter(|s| s.len() < 64)
            .fold(0u64, |mask, s| mask | 1 << s.len());
        let names = [
            name(&config.user_id)?,
            name(&config.user_name)?,
            name(&config.scopes)?,
            name(&config.client_id)?,
            name(&config.groups)?,
            name(&config.issuer)?,
        ];
        let [user_id, user_name, scopes, client_id, groups, issuer] = names;
        Ok(IdentityHeaders {
            user_id,
            user_name,
            scopes,
            client_id,
            groups,
            issuer,
            strip,
            strip_lengths,
            trusted_proxies: TrustedProxies::new(trusted_proxies),
        })
    }

    /// Removes identity headers, and forwarding headers from untrusted peers; then records the
    /// peer in `X-Forwarded-For`, and the scheme of the client's own connection (`tls`) in
    /// `X-Forwarded-Proto` unless a trusted proxy said it.
    pub fn sanitize<H: HeadEdit + ?Sized>(&self, req: &mut H, peer: Option<IpAddr>, tls: bool) {
        let trusted = peer.is_some_and(|ip| self.trusted_proxies.contains(ip));
        let doomed = |k: &HeaderName| {
            let k = k.as_str();
            (may_match(self.strip_lengths, k.len()) && self.strip.iter().any(|s| same_name(s, k)))
                || (!trusted
                    && may_match(FORWARDING_LENGTHS, k.len())
                    && FORWARDING.iter().any(|s| same_name(s, k)))
        };
        // Nothing to remove on almost every request: look before collecting.
        if req.headers().keys().any(doomed) {
            let names: Vec<HeaderName> = req
                .headers()
                .keys()
                .filter(|k| doomed(k))
                .cloned()
                .collect();
            for name in names {
                req.unset(&name);
            }
        }
        if let Some(ip) = peer {
            let prior = match req.headers().get(&XFF).and_then(|v| v.to_str().ok()) {
                Some(prior) if trusted => Some(format!("{prior}, {ip}")),
                _ => None,
            };
            let value = match prior {
                Some(chain) => HeaderValue::from_maybe_shared(Bytes::from(chain)).ok(),
                None => Some(peer_value(ip)),
            };
            if let Some(v) = value {
                req.set(&XFF, v);
            }
        }
        if !req.headers().contains_key(&XFP) {
            let proto = if tls { "https" } else { "http" };
            req.set(&XFP, HeaderValue::from_static(proto));
        }
    }

    /// Whether `ip` is one of `server.trusted_proxies`.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.contains(ip)
    }

    /// The client's address for throttles and logs (see `client_address`).
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &http::HeaderMap) -> Option<IpAddr> {
        self.trusted_proxies.client_ip(peer, headers)
    }

    /// Sets the identity's headers.
    pub fn inject<H: HeadEdit + ?Sized>(&self, req: &mut H, identity: &Identity) {
        for (name, value) in self.pairs(Some(identity)) {
            if let Some(v) = value {
                req.set(name, v);
            }
        }
    }

    /// The identity headers of a forward-auth answer, for the ingress to copy onto the
    /// request it forwards (`auth_request_set`, `authResponseHeaders`, `copy_headers`,
    /// `allowed_upstream_headers`). Every one is present, empty when the identity lacks it
    /// (or the request is anonymous): Caddy before 2.9 copies its placeholder text, not
    /// nothing, for a header the answer leaves out, and an upstream could take that for a user.
    pub fn fields(&self, identity: Option<&Identity>) -> Vec<(HeaderName, HeaderValue)> {
        self.pairs(identity)
            .into_iter()
            .map(|(n, v)| (n.clone(), v.unwrap_or(HeaderValue::from_static(""))))
            .collect()
    }

    /// Each identity header's name and the identity's value for it, if any.
    pub fn pairs(&self, identity: Option<&Identity>) -> [(&HeaderName, Option<HeaderValue>); 6] {
        let h = identity.map_or_else(IdentityHeaderValues::default, Identity::headers);
        [
            (&self.user_id, h.user_id),
            (&self.user_name, h.user_name),
            (&self.scopes, h.scopes),
            (&self.client_id, h.client_id),
            (&self.groups, h.groups),
            (&self.issuer, h.issuer),
        ]
    }

    /// Every name stripped from clients (the identity headers and `also_strip`), lowercase,
    /// `-` spelling.
    pub fn stripped_names(&self) -> &[String] {
        &self.strip
    }

    /// Whether the lowercase header `name` is a spelling of one stripped from clients.
    pub fn is_stripped(&self, name: &str) -> bool {
        self.strip.iter().any(|s| same_name(s, name))
    }

    /// The (name, value) pairs `inject` would set: for the echo handler.
    pub fn describe(&self, identity: &Identity) -> Vec<(String, String)> {
        self.pairs(Some(identity))
            .into_iter()
            .filter_map(|(n, v)| {
                v.map(|v| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
            })
            .collect()
    }
}

/// The peer's address as an `X-Forwarded-For` value (an address always is a valid one).
fn peer_value(ip: IpAddr) -> HeaderValue {
    LAST_PEER.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((seen, value)) = &*last {
            if *seen == ip {
                return value.clone();
            }
        }
        let value = HeaderValue::from_maybe_shared(Bytes::from(ip.to_string()))
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        *last = Some((ip, value.clone()));
        value
    })
}

/// `want` is lowercase with `-`; `got` is a lowercase header name that may use `_`.
fn same_name(want: &str, got: &str) -> bool {
    want.len() == got.len()
        && want
            .bytes()
            .zip(got.bytes())
            .all(|(w, g)| w == g || (w == b'-' && g == b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::http::RequestHeader;

    fn headers() -> IdentityHeaders {
        IdentityHeaders::new(
            &IdentityHeadersConfig {
                user_id: "X-Auth-User-Id".into(),
                user_name: "X-Auth-User-Name".into(),
                scopes: "X-Auth-Scopes".into(),
                client_id: "X-Auth-Client-Id".into(),
                groups: "X-Auth-Groups".into(),
                issuer: "X-Auth-Issuer".into(),
                also_strip: vec!["X-Auth-Admin".into()],
            },
            &["10.0.0.0/8".parse().unwrap()],
        )
        .unwrap()
    }

    #[test]
    fn strips_every_spelling_and_untrusted_forwarding() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.append_header("x-auth-user-id", "1").unwrap();
        req.append_header("X-AUTH-USER-ID", "2").unwrap();
        req.append_header("X_Auth_User_Id", "3").unwrap();
        req.append_header("x-auth-admin", "yes").unwrap();
        req.append_header("X-Forwarded-For", "10.9.9.9").unwrap();
        req.append_header("Forwarded", "for=1.2.3.4").unwrap();
        req.append_header("Accept", "a").unwrap();
        headers().sanitize(&mut req, Some("192.0.2.1".parse().unwrap()), false);
        assert!(req.headers.get("x-auth-user-id").is_none());
        assert!(req.headers.get("x_auth_user_id").is_none());
        assert!(req.headers.get("x-auth-admin").is_none());
        assert!(req.headers.get("forwarded").is_none());
        assert_eq!(req.headers.get("x-forwarded-for").unwrap(), "192.0.2.1");
        assert_eq!(req.headers.get("accept").unwrap(), "a");
    }

    #[test]
    fn each_peer_gets_its_own_forwarded_for() {
        // The formatted address is shared between requests from one peer, never across peers.
        let h = headers();
        for peer in ["192.0.2.1", "192.0.2.2", "192.0.2.1", "2001:db8::1"] {
            let mut req = RequestHeader::build("GET", b"/", None).unwrap();
            h.sanitize(&mut req, Some(peer.parse().unwrap()), false);
            assert_eq!(req.headers.get("x-forwarded-for").unwrap(), peer);
            assert_eq!(req.headers.get("x-forwarded-proto").unwrap(), "http");
        }
    }

    #[test]
    fn long_names_are_still_stripped() {
        // Names of 64 bytes or more are past the length mask and compared one by one.
        let long = format!("x-{}", "a".repeat(70));
        let h = IdentityHeaders::new(
            &IdentityHeadersConfig {
                user_id: "X-Auth-User-Id".into(),
                user_name: "X-Auth-User-Name".into(),
                scopes: "X-Auth-Scopes".into(),
                client_id: "X-Auth-Client-Id".into(),
                groups: "X-Auth-Groups".into(),
                issuer: "X-Auth-Issuer".into(),
                also_strip: vec![long.clone()],
            },
            &[],
        )
        .unwrap();
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.append_header(long.replace('-', "_"), "forged").unwrap();
        req.append_header("x-keep", "yes").unwrap();
        h.sanitize(&mut req, None, false);
        assert_eq!(req.headers.len(), 2, "{:?}", req.headers);
        assert_eq!(req.headers.get("x-keep").unwrap(), "yes");
        assert_eq!(req.headers.get("x-forwarded-proto").unwrap(), "http");
    }

    #[test]
    fn forwarded_proto_is_the_client_connections_unless_a_trusted_proxy_said_it() {
        let h = headers();
        let sanitized = |peer: &str, sent: Option<&str>, tls: bool| {
            let mut req = RequestHeader::build("GET", b"/", None).unwrap();
            if let Some(v) = sent {
                req.append_header("X-Forwarded-Proto", v).unwrap();
            }
            h.sanitize(&mut req, Some(peer.parse().unwrap()), tls);
            let all: Vec<_> = req
                .headers
                .get_all("x-forwarded-proto")
                .iter()
                .cloned()
                .collect();
            assert_eq!(all.len(), 1, "{all:?}");
            all[0].to_str().unwrap().to_string()
        };
        // An untrusted client's claim is replaced by what its connection was.
        assert_eq!(sanitized("192.0.2.1", Some("http"), true), "https");
        assert_eq!(sanitized("192.0.2.1", Some("https"), false), "http");
        assert_eq!(sanitized("192.0.2.1", None, true), "https");
        // A trusted proxy's word stands; without one, its own connection is what is known.
        assert_eq!(sanitized("10.1.2.3", Some("https"), false), "https");
        assert_eq!(sanitized("10.1.2.3", None, true), "https");
        assert_eq!(sanitized("10.1.2.3", None, false), "http");
    }

    #[test]
    fn trusted_peer_keeps_forwarding_chain() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.append_header("X-Forwarded-For", "203.0.113.7").unwrap();
        headers().sanitize(&mut req, Some("10.1.2.3".parse().unwrap()), false);
        assert_eq!(
            req.headers.get("x-forwarded-for").unwrap(),
            "203.0.113.7, 10.1.2.3"
        );
    }
}
