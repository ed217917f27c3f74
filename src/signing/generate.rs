//! `gatehouse keys generate`: a new private key as PKCS#8 PEM.

use super::KeyAlgorithm;

/// SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }.
const ED25519_PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A fresh private key of `algorithm` (RSA: 2048 bits), PKCS#8 PEM.
pub fn generate_pem(algorithm: KeyAlgorithm) -> Result<String, String> {
    use rand::rngs::OsRng;
    use rand::RngCore;
    let der = match algorithm {
        KeyAlgorithm::EdDsa => {
            // PKCS#8 v1 (RFC 8410 §7): the seed alone. ed25519-dalek writes v2 (with the public
            // key), which OpenSSL 3.0 cannot read.
            let mut der = ED25519_PKCS8_V1_PREFIX.to_vec();
            let mut seed = [0u8; 32];
            OsRng.fill_bytes(&mut seed);
            der.extend_from_slice(&seed);
            der
        }
        KeyAlgorithm::Es256 => {
            use p256::pkcs8::EncodePrivateKey;
            p256::SecretKey::random(&mut OsRng)
                .to_pkcs8_der()
                .map_err(|e| e.to_string())?
                .as_bytes()
                .to_vec()
        }
        KeyAlgorithm::Rs256 => {
            use rsa::pkcs8::EncodePrivateKey;
            rsa::RsaPrivateKey::new(&mut OsRng, 2048)
                .map_err(|e| e.to_string())?
                .to_pkcs8_der()
                .map_err(|e| e.to_string())?
                .as_bytes()
                .to_vec()
        }
    };
    Ok(pem::encode(&pem::Pem::new("PRIVATE KEY", der)))
}

/// Writes `pem` to `path`, created new with mode 0600 (never over an existing file).
pub fn write_key_file(path: &std::path::Path, pem: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()
}
