//! `gatehouse check-config`: exit status and messages that name the key.

use std::process::Command;

fn check(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

const GOOD: &str = r#"
[server]
listen = "127.0.0.1:18999"
public_url = "http://localhost:18999"
admin_listen = "127.0.0.1:19999"
[[upstreams]]
name = "app"
addrs = ["127.0.0.1:3000"]
[[routes]]
path_prefix = "/"
upstream = "app"
"#;

#[test]
fn bundled_config_is_valid() {
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args([
            "check-config",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/gatehouse.toml"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/config")).unwrap() {
        let path = entry.unwrap().path();
        // Example configs take their database URL from the environment, as in production.
        let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .env(
                "GATEHOUSE_DATABASE_URL",
                "postgres://gatehouse@127.0.0.1/gatehouse",
            )
            .env("FACEBOOK_APP_SECRET", "an-app-secret-from-the-environment")
            .env(
                "GATEHOUSE_FB_TOKEN_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            )
            .arg("check-config")
            .arg("--config")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn errors_name_the_key() {
    assert!(check(GOOD).0);
    let cases = [
        (
            GOOD.replace("[server]", "[cache]\ntll = \"30s\"\n[server]"),
            "tll",
        ),
        (
            GOOD.replace("upstream = \"app\"", "upstream = \"missing\""),
            "routes[0].upstream",
        ),
        (
            format!("{GOOD}\n[cache]\nttl = \"30 seconds\"\n"),
            "cache.ttl",
        ),
        (
            format!("{GOOD}\n[[routes]]\npath_prefix = \"/\"\nupstream = \"app\"\n"),
            "routes[1]: duplicate route",
        ),
        (
            format!("{GOOD}\n[store]\nurl_file = \"/nonexistent/secret\"\n"),
            "store.url_file",
        ),
        (
            format!("{GOOD}\n[store]\nurl = \"${{GATEHOUSE_UNSET_VAR_FOR_TEST}}\"\n"),
            "GATEHOUSE_UNSET_VAR_FOR_TEST",
        ),
        (
            GOOD.replace("127.0.0.1:3000", "not an address"),
            "upstreams[0].addrs[0]",
        ),
        (
            GOOD.replace("path_prefix = \"/\"", "path_prefix = \"/a/../b\""),
            "routes[0].path_prefix",
        ),
        // Hardening finding 10: client ids are reserved usernames, shown beside them.
        (
            format!("{GOOD}\n[oauth]\n[[clients]]\nid = \"ok-app\"\n[[clients]]\nid = \"\u{430}dmin-console\"\n"),
            "clients[1].id",
        ),
    ];
    for (text, needle) in cases {
        let (ok, out) = check(&text);
        assert!(!ok, "should fail: {needle}");
        assert!(
            out.contains(needle),
            "message should name `{needle}`: {out}"
        );
    }
}

/// Hardening finding 13: the Facebook app secret travels to `graph_url` and `dialog_url`, so
/// plain http is refused except on loopback (a local stand-in of Facebook).
#[test]
fn facebook_urls_must_be_https_off_loopback() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/facebook.toml"))
            .unwrap();
    let run = |text: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .env(
                "GATEHOUSE_DATABASE_URL",
                "postgres://gatehouse@127.0.0.1/gatehouse",
            )
            .env("FACEBOOK_APP_SECRET", "an-app-secret-from-the-environment")
            .env(
                "GATEHOUSE_FB_TOKEN_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            )
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for (key, url, ok) in [
        ("graph_url", "http://graph.example.com", false),
        ("dialog_url", "http://www.example.com", false),
        ("graph_url", "http://127.0.0.1:9100", true),
        ("dialog_url", "http://localhost:9100", true),
        ("graph_url", "https://graph.example.com", true),
    ] {
        let default = if key == "graph_url" {
            "https://graph.facebook.com"
        } else {
            "https://www.facebook.com"
        };
        let text = example.replace(
            &format!("{key} = \"{default}\""),
            &format!("{key} = \"{url}\""),
        );
        assert_ne!(text, example, "{key} not found in the example");
        let (passed, out) = run(&text);
        assert_eq!(passed, ok, "{key} = {url}: {out}");
        if !ok {
            assert!(out.contains(&format!("facebook.{key}")), "{out}");
        }
    }
}

/// `tokens.checksum_key` and `tokens.previous_checksum_keys`: 32-byte keys (base64 or hex),
/// from the file, the environment or a `_file`; a bad one is named, its value never shown.
#[test]
fn checksum_key_errors_name_the_key_and_hide_the_value() {
    let hex_key = "ab".repeat(32);
    let good = format!("{GOOD}\n[tokens]\nchecksum_key = \"{hex_key}\"\nprevious_checksum_keys = [\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"]\naccept_unstructured = false\n");
    let (ok, out) = check(&good);
    assert!(ok, "{out}");
    let cases = [
        ("checksum_key = \"not-a-secret-key-of-32-bytes\"", "tokens.checksum_key:", "not-a-secret-key-of-32-bytes"),
        ("checksum_key = \"c2hvcnQ=\"", "tokens.checksum_key: must be 32 bytes", "c2hvcnQ="),
        (
            "checksum_key = \"ab\"\nchecksum_key_file = \"/tmp/k\"",
            "give either `tokens.checksum_key` or `tokens.checksum_key_file`",
            "\"ab\"",
        ),
        ("checksum_key_file = \"/nonexistent/key\"", "tokens.checksum_key_file", "\u{0}"),
        (
            "previous_checksum_keys = [\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\", \"old-key-too-short\"]",
            "tokens.previous_checksum_keys[1]",
            "old-key-too-short",
        ),
        (
            "checksum_key = \"${GATEHOUSE_UNSET_CHECKSUM_KEY_FOR_TEST}\"",
            "GATEHOUSE_UNSET_CHECKSUM_KEY_FOR_TEST",
            "\u{0}",
        ),
        ("accept_unstructured = \"yes\"", "accept_unstructured", "\u{0}"),
    ];
    for (lines, needle, secret) in cases {
        let (ok, out) = check(&format!("{GOOD}\n[tokens]\n{lines}\n"));
        assert!(!ok, "should fail: {lines}");
        assert!(
            out.contains(needle),
            "message should name `{needle}`: {out}"
        );
        assert!(!out.contains(secret), "the value is not shown: {out}");
    }
}

#[test]
fn openid_without_signing_keys_is_a_warning_and_post_logout_uris_are_checked() {
    let client = |extra: &str| {
        format!(
            "{GOOD}\n[oauth]\n[[clients]]\nid = \"rp\"\nsecret = \"rp-secret-0123456789abcdef\"\nredirect_uris = [\"https://rp.example/cb\"]\nscopes = [\"openid\", \"read\"]\n{extra}"
        )
    };
    let (ok, out) = check(&client(""));
    assert!(ok, "{out}");
    assert!(
        out.contains("warning") && out.contains("openid") && out.contains("tokens.signing_keys"),
        "{out}"
    );
    let (ok, out) = check(&client(
        "post_logout_redirect_uris = [\"http://rp.example/bye\"]\n",
    ));
    assert!(!ok);
    assert!(
        out.contains("clients[0].post_logout_redirect_uris[0]"),
        "{out}"
    );
}
