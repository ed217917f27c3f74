//! Gatehouse's opaque token format and its key: `gth1_`, 256 random bits and a 96-bit truncated
//! HMAC-SHA256 of both under the checksum key, base64url. A token that fails the checksum is
//! refused before the cache and the store, so a flood of made-up tokens costs one HMAC each.

use super::jwt::looks_like_jwt;
use crate::config::{ChecksumKey, TokensConfig};
use crate::store::{now_unix, Store, StoreError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The version prefix; also what secret scanners match on.
pub const PREFIX: &str = "gth1_";
const RANDOM_BYTES: usize = 32;
const RANDOM_CHARS: usize = 43;
/// 96 bits: guessing a checksum takes 2^95 tries on average, far beyond any flood.
const TAG_BYTES: usize = 12;
const TAG_CHARS: usize = 16;
/// `gth1_` + 43 + 16 characters.
pub const TOKEN_LEN: usize = PREFIX.len() + RANDOM_CHARS + TAG_CHARS;

/// The name of the generated key in the store's `server_keys`.
const STORED_KEY: &str = "token_checksum";

/// Why a token was refused without a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The prefix, but not the length, alphabet or a checksum of any accepted key.
    Forged,
    /// No prefix, and `tokens.accept_unstructured` is off.
    Unstructured,
}

/// Mints structured tokens and screens presented ones. The HMACs are keyed once; each use
/// clones the keyed state, so no per-token key schedule is run.
#[derive(Clone)]
pub struct TokenChecksum {
    current: Hmac<Sha256>,
    previous: Vec<Hmac<Sha256>>,
    accept_unstructured: bool,
    /// JWT-shaped tokens go to the JWT validator, which checks its own signature, not the store.
    jwt: bool,
}

fn keyed(key: &[u8; 32]) -> Hmac<Sha256> {
    // HMAC pads a short key with zeros to the block size (RFC 2104 §2): padding it here is the
    // same key, through the constructor that cannot fail.
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block.into())
}

impl TokenChecksum {
    pub fn new(
        current: &[u8; 32],
        previous: &[[u8; 32]],
        accept_unstructured: bool,
        jwt: bool,
    ) -> Self {
        TokenChecksum {
            current: keyed(current),
            previous: previous.iter().map(keyed).collect(),
            accept_unstructured,
            jwt,
        }
    }

    /// The configured key, or else the store's (created on the first start), with the
    /// configured previous keys. Once a key is configured, a key the store generated earlier
    /// stays accepted, so configuring one does not log anybody out.
    pub async fn load(
        tokens: &TokensConfig,
        jwt: bool,
        store: &dyn Store,
    ) -> Result<TokenChecksum, StoreError> {
        let mut previous: Vec<[u8; 32]> =
            tokens.previous_checksum_keys.iter().map(|k| k.0).collect();
        let current = match &tokens.checksum_key {
            Some(ChecksumKey(key)) => {
                if let Some(stored) = store.find_key(STORED_KEY).await? {
                    previous.push(stored_key(stored)?);
                }
                *key
            }
            None => {
                let mut candidate = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut candidate);
                stored_key(
                    store
                        .key_or_insert(STORED_KEY, &candidate, now_unix())
                        .await?,
                )?
            }
        };
        previous.retain(|k| k != &current);
        Ok(TokenChecksum::new(
            &current,
            &previous,
            tokens.accept_unstructured,
            jwt,
        ))
    }

    /// A new token under the current key.
    pub fn mint(&self) -> String {
        let mut random = [0u8; RANDOM_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let mut token = String::with_capacity(TOKEN_LEN);
        token.push_str(PREFIX);
        URL_SAFE_NO_PAD.encode_string(random, &mut token);
        let mut mac = self.current.clone();
        mac.update(token.as_bytes());
        let tag = mac.finalize().into_bytes();
        URL_SAFE_NO_PAD.encode_string(&tag[..TAG_BYTES], &mut token);
        token
    }

    /// Whether `token` may be looked up: a structured token with a valid checksum, or an
    /// unstructured one while those are accepted (JWTs whenever a JWT issuer is configured).
    pub fn screen(&self, token: &str) -> Result<(), Refusal> {
        if !token.starts_with(PREFIX) {
            return if self.accept_unstructured || (self.jwt && looks_like_jwt(token)) {
                Ok(())
            } else {
                Err(Refusal::Unstructured)
            };
        }
        let bytes = token.as_bytes();
        if bytes.len() != TOKEN_LEN {
            return Err(Refusal::Forged);
        }
        let (body, tag_text) = bytes.split_at(PREFIX.len() + RANDOM_CHARS);
        let mut tag = [0u8; TAG_BYTES];
        match URL_SAFE_NO_PAD.decode_slice(tag_text, &mut tag) {
            Ok(TAG_BYTES) => {}
            _ => return Err(Refusal::Forged),
        }
        // The random part is not decoded: the MAC covers its text, so any change fails below.
        let matches = |key: &Hmac<Sha256>| {
            let mut mac = key.clone();
            mac.update(body);
            mac.verify_truncated_left(&tag).is_ok()
        };
        if matches(&self.current) || self.previous.iter().any(matches) {
            Ok(())
        } else {
            Err(Refusal::Forged)
        }
    }
}

fn stored_key(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Query(format!("server key `{STORED_KEY}` is not 32 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checksum(key: u8, accept_unstructured: bool) -> TokenChecksum {
        TokenChecksum::new(&[key; 32], &[], accept_unstructured, false)
    }

    #[test]
    fn padded_key_is_the_same_hmac_key() {
        let mut a = keyed(&[7; 32]);
        let mut b = <Hmac<Sha256> as Mac>::new_from_slice(&[7; 32]).unwrap();
        a.update(b"x");
        b.update(b"x");
        assert_eq!(a.finalize().into_bytes(), b.finalize().into_bytes());
    }

    #[test]
    fn minted_tokens_have_the_shape_and_pass() {
        let c = checksum(1, false);
        let a = c.mint();
        assert_ne!(a, c.mint());
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(a.starts_with(PREFIX));
        assert!(a[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(c.screen(&a), Ok(()));
    }

    #[test]
    fn every_tampering_is_forged() {
        let c = checksum(1, true);
        let t = c.mint();
        for i in PREFIX.len()..t.len() {
            let mut b = t.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(b).unwrap();
            assert_eq!(c.screen(&tampered), Err(Refusal::Forged), "position {i}");
        }
        assert_eq!(c.screen(&t[..t.len() - 1]), Err(Refusal::Forged));
        assert_eq!(c.screen(&format!("{t}A")), Err(Refusal::Forged));
        assert_eq!(c.screen(PREFIX), Err(Refusal::Forged));
        assert_eq!(
            c.screen(&format!("{}!{}", &t[..20], &t[21..])),
            Err(Refusal::Forged)
        );
        let multibyte = format!("{}é{}", &t[..30], &t[32..]);
        assert_eq!(c.screen(&multibyte), Err(Refusal::Forged));
        assert_eq!(
            checksum(2, true).screen(&t),
            Err(Refusal::Forged),
            "other key"
        );
    }

    #[test]
    fn previous_keys_are_accepted_not_minted() {
        let old = checksum(1, false).mint();
        let rotated = TokenChecksum::new(&[2; 32], &[[1; 32]], false, false);
        assert_eq!(rotated.screen(&old), Ok(()));
        assert_eq!(
            checksum(1, false).screen(&rotated.mint()),
            Err(Refusal::Forged)
        );
    }

    #[test]
    fn unstructured_tokens_follow_the_switch() {
        let seed = "clfyhqtxf7jfywl2urknr9pm79svwox";
        assert_eq!(checksum(1, true).screen(seed), Ok(()));
        assert_eq!(checksum(1, false).screen(seed), Err(Refusal::Unstructured));
        let jwt_shaped = "a.b.c";
        assert_eq!(
            checksum(1, false).screen(jwt_shaped),
            Err(Refusal::Unstructured)
        );
        let with_jwt = TokenChecksum::new(&[1; 32], &[], false, true);
        assert_eq!(with_jwt.screen(jwt_shaped), Ok(()));
        assert_eq!(with_jwt.screen(seed), Err(Refusal::Unstructured));
    }
}
