//! Checking a presented client secret against the configured one, and minting new secrets.
//! Gatehouse's own secrets are 256 random bits: guessing one is hopeless whatever the hash, so
//! they are stored as a SHA-256 and compared in constant time (RFC 6749 §2.3.1, RFC 9700
//! §2.5), at the cost of a hash per request instead of an argon2 run. Argon2id stays for
//! secrets a person chose; once one of those has been verified and is long enough to be a
//! random secret itself, its SHA-256 is remembered in memory so that later requests skip
//! argon2 (the config is not rewritten: run `gatehouse client-secret` to move a client over).

use crate::config::{ClientSecretConfig, SHA256_SECRET_PREFIX};
use crate::store::StoreError;
use crate::users::passwords::PasswordHasher;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

/// Shortest argon2-verified secret whose digest is remembered: 32 hex digits are 128 random
/// bits (`openssl rand -hex 16`); a secret a person typed is rarely that long, and stays
/// behind argon2 on every request when it is shorter.
const REMEMBER_MIN_LEN: usize = 32;

/// The configured secret of one client and, for an argon2 hash, the digest of the secret
/// that was verified against it.
pub struct ClientSecret {
    config: ClientSecretConfig,
    verified: OnceLock<[u8; 32]>,
}

impl ClientSecret {
    pub fn new(config: ClientSecretConfig) -> Self {
        ClientSecret {
            config,
            verified: OnceLock::new(),
        }
    }

    /// Whether `presented` is this client's secret; always false for a public client.
    pub async fn verify(
        &self,
        presented: &str,
        hasher: &PasswordHasher,
    ) -> Result<bool, StoreError> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if let Some(known) = self.verify_digest(&digest) {
            return Ok(known);
        }
        let ClientSecretConfig::Hash(hash) = &self.config else {
            return Ok(false);
        };
        let ok = hasher.verify_hash(presented, hash).await?;
        if ok {
            self.remember(presented, digest);
        }
        Ok(ok)
    }

    /// The answer from the presented secret's SHA-256 alone; `None` when only argon2 can tell.
    fn verify_digest(&self, digest: &[u8; 32]) -> Option<bool> {
        match &self.config {
            ClientSecretConfig::Public => Some(false),
            // Digests on both sides: constant time whatever the lengths involved.
            ClientSecretConfig::Plain(expected) => {
                let expected: [u8; 32] = Sha256::digest(expected.expose().as_bytes()).into();
                Some(bool::from(digest.ct_eq(&expected)))
            }
            ClientSecretConfig::Sha256(expected) => Some(bool::from(digest.ct_eq(expected))),
            // No other secret verifies against the same argon2 hash: a mismatch is wrong.
            ClientSecretConfig::Hash(_) => self
                .verified
                .get()
                .map(|verified| bool::from(digest.ct_eq(verified))),
        }
    }

    /// After argon2 accepted `presented`: remember its digest if it is long enough to be a
    /// random secret.
    fn remember(&self, presented: &str, digest: [u8; 32]) {
        if presented.len() >= REMEMBER_MIN_LEN {
            // Set at most once; a concurrent first verification stores the same digest.
            let _ = self.verified.set(digest);
        }
    }
}

/// A new client secret (256 random bits, base64url) and its `secret_hash` value.
pub fn generate() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let hash = secret_hash(&secret);
    (secret, hash)
}

/// The `secret_hash` value of a generated secret.
pub fn secret_hash(secret: &str) -> String {
    format!(
        "{SHA256_SECRET_PREFIX}{}",
        hex::encode(Sha256::digest(secret.as_bytes()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_secret_hash, SecretString};

    fn digest(s: &str) -> [u8; 32] {
        Sha256::digest(s.as_bytes()).into()
    }

    #[test]
    fn generated_secrets_verify_through_their_sha256() {
        let (secret, hash) = generate();
        assert_eq!(secret.len(), 43);
        let Some(config) = parse_secret_hash(&hash) else {
            panic!("unparsable {hash}")
        };
        let s = ClientSecret::new(config);
        assert_eq!(s.verify_digest(&digest(&secret)), Some(true));
        assert_eq!(s.verify_digest(&digest(&format!("{secret}x"))), Some(false));
        assert_eq!(s.verify_digest(&digest("")), Some(false));
        assert_ne!(generate().0, secret);
    }

    #[test]
    fn plain_and_public_secrets() {
        let plain = ClientSecret::new(ClientSecretConfig::Plain(SecretString::new(
            "a-configured-secret".into(),
        )));
        assert_eq!(
            plain.verify_digest(&digest("a-configured-secret")),
            Some(true)
        );
        assert_eq!(
            plain.verify_digest(&digest("a-configured-secreT")),
            Some(false)
        );
        let public = ClientSecret::new(ClientSecretConfig::Public);
        assert_eq!(public.verify_digest(&digest("")), Some(false));
    }

    #[test]
    fn argon2_secrets_are_remembered_only_when_long() {
        let hash = ClientSecretConfig::Hash("$argon2id$…".into());
        let long = "0123456789abcdef0123456789abcdef";
        let s = ClientSecret::new(hash.clone());
        // Until one secret has been verified, only argon2 can tell.
        assert_eq!(s.verify_digest(&digest(long)), None);
        s.remember(long, digest(long));
        assert_eq!(s.verify_digest(&digest(long)), Some(true));
        assert_eq!(
            s.verify_digest(&digest("0123456789abcdef0123456789abcdeF")),
            Some(false)
        );

        let short = "a person's secret";
        let s = ClientSecret::new(hash);
        s.remember(short, digest(short));
        assert_eq!(s.verify_digest(&digest(short)), None);
    }
}
