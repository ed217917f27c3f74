//! The `gatehouse` command: run the proxy, check a config, and operator tasks on the store.

use clap::{Parser, Subcommand};
use gatehouse::auth::NewToken;
use gatehouse::config::{is_scope_token, parse_duration};
use gatehouse::{Config, Gatehouse};
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Reverse-proxy authentication sidecar"
)]
struct Cli {
    /// Config file (TOML).
    #[arg(long, short, global = true, default_value = "config/gatehouse.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy (the default when no command is given).
    Run,
    /// Validate the config file and exit 0 (valid) or 1 (with every problem listed).
    CheckConfig,
    /// Create or upgrade the store's schema, then exit.
    Migrate,
    /// Access tokens, for operators and tests.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue an access token and print it (the only time it is shown).
    Issue {
        /// User id the token speaks for.
        #[arg(long)]
        user: String,
        /// User name forwarded in the user-name identity header.
        #[arg(long)]
        name: Option<String>,
        /// Scopes, space- or comma-separated.
        #[arg(long, default_value = "")]
        scopes: String,
        #[arg(long)]
        client: Option<String>,
        /// Lifetime, e.g. 2h (default: tokens.access_ttl).
        #[arg(long)]
        ttl: Option<String>,
        #[arg(long)]
        admin: bool,
    },
    /// Revoke a token (read from the argument or, with `-`, from stdin).
    Revoke { token: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig => {
            println!("{}: ok", cli.config.display());
            ExitCode::SUCCESS
        }
        Command::Run => {
            gatehouse::telemetry::init(&config.log);
            match Gatehouse::build(config) {
                Ok(g) => {
                    tracing::info!("gatehouse starting");
                    g.run_forever();
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("gatehouse: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Migrate => with_store(&config, |_, _| async {
            Ok("migrations applied".to_string())
        }),
        Command::Token { command } => token_command(&config, command),
    }
}

fn token_command(config: &Config, command: TokenCommand) -> ExitCode {
    match command {
        TokenCommand::Issue {
            user,
            name,
            scopes,
            client,
            ttl,
            admin,
        } => {
            let scopes: Vec<String> = scopes
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
                eprintln!("--scopes: `{bad}` is not a valid scope");
                return ExitCode::FAILURE;
            }
            let ttl = match ttl.as_deref().map(parse_duration) {
                None => config.tokens.access_ttl,
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    eprintln!("--ttl: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let new = NewToken {
                user_id: Some(user),
                user_name: name,
                client_id: client,
                scopes,
                admin,
            };
            with_store(config, move |tokens, _| async move {
                tokens.issue(new, ttl).await.map_err(|e| e.to_string())
            })
        }
        TokenCommand::Revoke { token } => {
            let token = if token == "-" {
                let mut line = String::new();
                if std::io::stdin().read_line(&mut line).is_err() {
                    eprintln!("cannot read the token from stdin");
                    return ExitCode::FAILURE;
                }
                line.trim().to_string()
            } else {
                token
            };
            with_store(config, move |tokens, _| async move {
                match tokens.revoke(&token).await {
                    Ok(true) => Ok("revoked".to_string()),
                    Ok(false) => Err("no such token".to_string()),
                    Err(e) => Err(e.to_string()),
                }
            })
        }
    }
}

/// Opens the store (applying migrations) and runs one operator task against it.
fn with_store<F, Fut>(config: &Config, task: F) -> ExitCode
where
    F: FnOnce(gatehouse::auth::TokenService, gatehouse::store::StoreHandle) -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    let result = (|| {
        let runtime = gatehouse::server::store_runtime().map_err(|e| e.to_string())?;
        let store = gatehouse::server::open_store(config, &runtime).map_err(|e| e.to_string())?;
        let metrics =
            std::sync::Arc::new(gatehouse::metrics::Metrics::new().map_err(|e| e.to_string())?);
        let validator = std::sync::Arc::new(gatehouse::auth::CachedValidator::new(
            std::sync::Arc::new(gatehouse::auth::OpaqueStoreValidator::new(
                store.clone(),
                metrics.clone(),
            )),
            &config.cache,
            metrics,
        ));
        let tokens = gatehouse::auth::TokenService::new(store.clone(), validator);
        runtime.block_on(task(tokens, store))
    })();
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gatehouse: {e}");
            ExitCode::FAILURE
        }
    }
}
