//! An independent JWS verifier for the tests: the `openssl` CLI, with a public key built by
//! hand out of a JWK, so that nothing of the crate that signed takes part.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// DER: tag, length, content.
pub fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 128 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER of an unsigned big-endian number.
pub fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut v = if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        vec![0]
    } else {
        vec![]
    };
    v.extend(if trimmed.is_empty() { vec![0] } else { trimmed });
    der(0x02, &v)
}

pub fn b64d(v: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap()
}

/// The SubjectPublicKeyInfo PEM of a public JWK, built by hand from its parameters.
pub fn jwk_to_pem(jwk: &Value) -> String {
    let bit_string = |key: &[u8]| der(0x03, &[&[0u8][..], key].concat());
    let spki = match jwk["kty"].as_str().unwrap() {
        "OKP" => {
            assert_eq!(jwk["crv"], "Ed25519");
            let alg = der(0x30, &der(0x06, &[0x2b, 0x65, 0x70]));
            der(0x30, &[alg, bit_string(&b64d(&jwk["x"]))].concat())
        }
        "EC" => {
            assert_eq!(jwk["crv"], "P-256");
            let ec = der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]);
            let p256 = der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]);
            let point = [&[4u8][..], &b64d(&jwk["x"]), &b64d(&jwk["y"])].concat();
            der(
                0x30,
                &[der(0x30, &[ec, p256].concat()), bit_string(&point)].concat(),
            )
        }
        "RSA" => {
            let oid = der(
                0x06,
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
            );
            let alg = der(0x30, &[oid, vec![0x05, 0x00]].concat());
            let key = der(
                0x30,
                &[der_uint(&b64d(&jwk["n"])), der_uint(&b64d(&jwk["e"]))].concat(),
            );
            der(0x30, &[alg, bit_string(&key)].concat())
        }
        other => panic!("unexpected kty {other}"),
    };
    let body = base64::engine::general_purpose::STANDARD.encode(spki);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

/// Verifies a JWS with the `openssl` CLI and the public key of `jwk`: true when it holds.
pub fn openssl_verifies(token: &str, jwk: &Value) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let pem = dir.path().join("pub.pem");
    std::fs::write(&pem, jwk_to_pem(jwk)).unwrap();
    let input = dir.path().join("input");
    std::fs::write(&input, signed).unwrap();
    let sig_file = dir.path().join("sig");
    let mut cmd = std::process::Command::new("openssl");
    match jwk["alg"].as_str().unwrap() {
        "EdDSA" => {
            std::fs::write(&sig_file, &sig).unwrap();
            cmd.args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
                .arg(&pem)
                .arg("-in")
                .arg(&input)
                .arg("-sigfile")
                .arg(&sig_file);
        }
        alg => {
            // JWS ES256 signatures are r||s; openssl wants ECDSA-Sig-Value DER.
            let sig = if alg == "ES256" {
                der(0x30, &[der_uint(&sig[..32]), der_uint(&sig[32..])].concat())
            } else {
                sig
            };
            std::fs::write(&sig_file, &sig).unwrap();
            cmd.args(["dgst", "-sha256", "-verify"])
                .arg(&pem)
                .arg("-signature")
                .arg(&sig_file)
                .arg(&input);
        }
    }
    let out = cmd
        .output()
        .expect("the openssl CLI is required by this test");
    out.status.success()
}
