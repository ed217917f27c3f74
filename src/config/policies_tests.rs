//! Config errors of policies and rate limits: each malformed rule is reported under its key,
//! every problem of a file at once.

use crate::config::{ClaimTest, Condition, Config, Effect, RateKey};

const BASE: &str = r#"
[server]
listen = "127.0.0.1:0"
public_url = "http://localhost:8080/"
admin_listen = "127.0.0.1:0"
[[upstreams]]
name = "app"
addrs = ["127.0.0.1:3000"]
"#;

fn load(extra: &str) -> Result<Config, String> {
    Config::from_toml(&format!("{BASE}{extra}"), "t.toml").map_err(|e| e.to_string())
}

fn err(extra: &str) -> String {
    match load(extra) {
        Ok(_) => panic!("accepted:\n{extra}"),
        Err(e) => e,
    }
}

fn route_with(policy: &str) -> String {
    format!("[[routes]]\npath_prefix = \"/\"\nupstream = \"app\"\npolicy = {policy}\n")
}

#[test]
fn named_and_inline_policies_compile_into_a_tree() {
    let c = load(&format!(
        "[[policies]]\nname = \"p\"\nrules = [{{ name = \"r1\", deny = {{ method = [\"DELETE\"] }} }}, {{ allow = {{ all = [{{ scopes = [\"w\"] }}, {{ claim = \"team\", glob = \"a*\" }}] }} }}]\n{}[[routes]]\npath_prefix = \"/b\"\nupstream = \"app\"\npolicy = [{{ allow = {{ address = \"10.0.0.0/8\" }} }}]\n",
        route_with("\"p\"")
    ))
    .unwrap();
    assert_eq!(c.policies.len(), 2);
    assert_eq!(c.routes[0].policy, Some(0));
    assert_eq!(c.routes[1].policy, Some(1));
    let p = &c.policies[0];
    assert_eq!(p.rules[0].name, "r1");
    assert_eq!(p.rules[0].effect, Effect::Deny);
    assert_eq!(p.rules[1].name, "p#1");
    assert_eq!(p.default_rule, "p#default");
    assert!(!p.uses_address && c.policies[1].uses_address);
    assert_eq!(c.policies[1].name, "/b");
    // `team` joins the claims identities keep, after the standard ones.
    assert_eq!(c.claims, ["groups", "roles", "team"]);
    match &p.rules[1].when {
        Condition::All(v) => match &v[1] {
            Condition::Claim {
                index: 2,
                test: ClaimTest::Glob(g),
            } => assert_eq!(g, "a*"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn each_malformed_rule_is_named_by_its_key() {
    let cases: &[(&str, &str)] = &[
        ("\"nope\"", "routes[0].policy: no policy named `nope`"),
        ("[{ allow = { address = \"10.0.0.300/8\" } }]", "routes[0].policy[0].allow.address[0]: `10.0.0.300/8` is not an IP address or CIDR"),
        ("[{ allow = { path = \"/a/../b\" } }]", "routes[0].policy[0].allow.path[0]: `/a/../b`"),
        ("[{ allow = { path = \"/a*\" } }]", "routes[0].policy[0].allow.path[0]: `/a*`"),
        ("[{ allow = { path = \"a\" } }]", "routes[0].policy[0].allow.path[0]: `a` must start with `/`"),
        ("[{ }]", "routes[0].policy[0]: empty rule"),
        ("[{ allow = { } }]", "routes[0].policy[0].allow: empty condition"),
        ("[{ allow = { all = [] } }]", "routes[0].policy[0].allow.all: empty list"),
        ("[{ allow = { method = [\"get\"] } }]", "routes[0].policy[0].allow.method[0]: `get` is not an HTTP method"),
        ("[{ allow = { scopes = [] } }]", "routes[0].policy[0].allow.scopes: empty list"),
        ("[{ allow = { scopes = [\"a b\"] } }]", "routes[0].policy[0].allow.scopes[0]: `a b` is not a valid scope"),
        ("[{ allow = { claim = \"groups\" } }]", "needs exactly one of `equals`, `any_of`, `glob`"),
        ("[{ allow = { claim = \"g\", equals = \"a\", glob = \"b\" } }]", "needs exactly one of"),
        ("[{ allow = { equals = \"a\" } }]", "routes[0].policy[0].allow.equals: only used with `claim"),
        ("[{ allow = { method = \"GET\", path = \"/a\" } }]", "routes[0].policy[0].allow: one condition per table, found method, path"),
        ("[{ allow = { admin = true }, deny = { admin = false } }]", "routes[0].policy[0]: give either `allow` or `deny`"),
        ("[]", "routes[0].policy: no rules"),
        ("[{ allow = { not = { any = [{ address = \"x\" }] } } }]", "routes[0].policy[0].allow.not.any[0].address[0]: `x`"),
        ("[{ name = \"a\", allow = { admin = true } }, { name = \"a\", deny = { admin = true } }]", "routes[0].policy[1].name: duplicate rule name `a`"),
        ("[{ name = \"bad name\", allow = { admin = true } }]", "routes[0].policy[0].name: `bad name`"),
    ];
    for (policy, want) in cases {
        let e = err(&route_with(policy));
        assert!(e.contains(want), "{policy}\nwant: {want}\ngot: {e}");
    }
}

#[test]
fn unknown_condition_keys_are_refused_naming_the_key() {
    let e = err(&route_with("[{ allow = { metod = [\"GET\"] } }]"));
    assert!(e.contains("metod"), "{e}");
    let e = err(&route_with("[{ permit = { admin = true } }]"));
    assert!(e.contains("permit"), "{e}");
    let e = err("[[policies]]\nname = \"p\"\nrules = [{ allow = { admin = true } }]\ncolour = 1\n");
    assert!(e.contains("colour"), "{e}");
}

#[test]
fn named_policy_problems_and_every_problem_at_once() {
    let e = err(
        "[[policies]]\nname = \"p\"\nrules = []\n[[policies]]\nname = \"p\"\nrules = [{ deny = { address = \"nope\" } }]\n",
    );
    for want in [
        "policies[0].rules: no rules",
        "policies[1].name: duplicate policy name `p`",
        "policies[1].rules[0].deny.address[0]: `nope`",
    ] {
        assert!(e.contains(want), "want {want}: {e}");
    }
}

#[test]
fn rate_limits_are_validated_and_referenced_by_routes() {
    let ok = load(
        "[[rate_limits]]\nname = \"u\"\nkey = \"user\"\nrate = \"5/s\"\nburst = 5\n[[rate_limits]]\nname = \"r\"\nkey = \"route\"\nrate = \"30/m\"\nbackend = \"redis://127.0.0.1:6379\"\nfail_mode = \"closed\"\n[[routes]]\npath_prefix = \"/\"\nupstream = \"app\"\nrate_limit = [\"u\", \"r\"]\n",
    )
    .unwrap();
    assert_eq!(ok.routes[0].rate_limits, [0, 1]);
    assert_eq!(ok.rate_limits[0].key, RateKey::User);
    assert_eq!(ok.rate_limits[1].burst, 30);
    assert_eq!(ok.rate_limits[1].interval().as_secs(), 2);
    // No `[oauth]`: no built-in credentials limit.
    assert_eq!(ok.rate_limits.len(), 2);

    let e = err(
        "[[rate_limits]]\nname = \"a\"\nkey = \"ip\"\nrate = \"5/d\"\nburst = 0\n[[rate_limits]]\nname = \"a\"\nkey = \"user\"\nrate = \"0/s\"\nbackend = \"http://user:hunter2@redis\"\n[[routes]]\npath_prefix = \"/\"\nupstream = \"app\"\nrate_limit = \"nope\"\n",
    );
    for want in [
        "rate_limits[0].key: `ip` (use user, client, address or route)",
        "rate_limits[0].rate: `5/d`",
        "rate_limits[0].burst: must be at least 1",
        "rate_limits[1].name: duplicate rate limit name `a`",
        "rate_limits[1].rate: `0/s`",
        "rate_limits[1].backend: must be a `redis://`",
        "routes[0].rate_limit: no rate limit named `nope`",
    ] {
        assert!(e.contains(want), "want {want}: {e}");
    }
    assert!(
        !e.contains("hunter2"),
        "a backend URL may hold a password: {e}"
    );
}

#[test]
fn oauth_brings_the_credentials_limit_unless_the_file_defines_it() {
    let c = load("[oauth]\n").unwrap();
    let l = c
        .rate_limits
        .iter()
        .find(|l| l.name == "credentials")
        .unwrap();
    assert_eq!((l.key, l.quota, l.burst), (RateKey::Address, 100, 1000));
    let c = load("[oauth]\n[[rate_limits]]\nname = \"credentials\"\nkey = \"address\"\nrate = \"1/h\"\nburst = 2\n").unwrap();
    let l = c
        .rate_limits
        .iter()
        .find(|l| l.name == "credentials")
        .unwrap();
    assert_eq!((l.quota, l.burst), (1, 2));
    assert_eq!(c.rate_limits.len(), 1);
}
