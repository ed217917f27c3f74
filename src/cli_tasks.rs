//! The command-line tasks that need nothing of `main`'s parsing: key generation, the reload
//! signal and `check-config --explain`.

use gatehouse::Config;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn generate_key(algorithm: &str, out: &std::path::Path) -> Result<(), String> {
    use gatehouse::signing::KeyAlgorithm;
    let algorithm = match algorithm.to_ascii_lowercase().as_str() {
        "ed25519" | "eddsa" => KeyAlgorithm::EdDsa,
        "es256" => KeyAlgorithm::Es256,
        "rs256" => KeyAlgorithm::Rs256,
        other => return Err(format!("`{other}`: use ed25519, es256 or rs256")),
    };
    let pem = gatehouse::signing::generate_pem(algorithm)?;
    gatehouse::signing::write_key_file(out, &pem)
        .map_err(|e| format!("cannot write `{}`: {e}", out.display()))
}

/// SIGHUP to the process in `pid_file`; what it made of it is in its log and metrics.
pub fn send_reload(pid_file: &std::path::Path) -> ExitCode {
    match gatehouse::reload::signal_reload(pid_file) {
        Ok(pid) => {
            println!("sent SIGHUP to gatehouse (pid {pid}); its log and gatehouse_config_reloads_total tell the result");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gatehouse: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `check-config --explain`: the report on stdout, exit 0; a question that cannot be
/// answered (bad method, URL or claims file) on stderr, exit 1.
pub fn explain_request(
    config: &Config,
    request: &[String],
    token_claims: Option<PathBuf>,
    address: Option<std::net::IpAddr>,
) -> ExitCode {
    let claims = match token_claims
        .map(|path| {
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
                .and_then(|text| {
                    serde_json::from_str::<serde_json::Value>(&text)
                        .map_err(|e| format!("{}: not JSON: {e}", path.display()))
                })
        })
        .transpose()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("--token-claims: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (Some(method), Some(url)) = (request.first(), request.get(1)) else {
        eprintln!("--explain: give METHOD URL");
        return ExitCode::FAILURE;
    };
    match gatehouse::policy::explain(config, method, url, claims.as_ref(), address) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("--explain: {e}");
            ExitCode::FAILURE
        }
    }
}
