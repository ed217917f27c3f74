//! Facebook tokens at rest: ChaCha20-Poly1305 with a random nonce per token, bound to the
//! Facebook user id as associated data, so a ciphertext cannot be moved to another account.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

pub struct TokenCipher {
    aead: ChaCha20Poly1305,
}

impl TokenCipher {
    pub fn new(key: &[u8; 32]) -> Self {
        TokenCipher {
            aead: ChaCha20Poly1305::new(&Key::from(*key)),
        }
    }

    /// `nonce || ciphertext`.
    pub fn seal(&self, token: &str, fb_user_id: &str) -> Option<Vec<u8>> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .aead
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: token.as_bytes(),
                    aad: fb_user_id.as_bytes(),
                },
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Some(out)
    }

    pub fn open(&self, sealed: &[u8], fb_user_id: &str) -> Option<String> {
        if sealed.len() < 12 {
            return None;
        }
        let (nonce, body) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let plain = self
            .aead
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: fb_user_id.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let c = TokenCipher::new(&[9u8; 32]);
        let sealed = c.seal("EAAtoken", "100").unwrap();
        assert!(!sealed.windows(8).any(|w| w == b"EAAtoken"));
        assert_eq!(c.open(&sealed, "100").unwrap(), "EAAtoken");
        assert!(c.open(&sealed, "101").is_none(), "bound to its account");
        assert!(TokenCipher::new(&[8u8; 32]).open(&sealed, "100").is_none());
    }
}
