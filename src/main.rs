//! The `gatehouse` command: run the proxy, check a config, and operator tasks on the store.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_tasks;

use clap::{Parser, Subcommand};
use cli_tasks::{explain_request, generate_key, send_reload};
use gatehouse::auth::NewToken;
use gatehouse::config::{is_scope_token, parse_duration};
use gatehouse::http::Contract;
use gatehouse::store::{now_unix, NewUser, StoreError};
use gatehouse::users::groups::{normalize_groups, parse_group_list};
use gatehouse::users::passwords::hash_now;
use gatehouse::users::{password_problem, screen_username, ReservedNames};
use gatehouse::{Config, Gatehouse};
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: allocator::Allocator = allocator::Allocator;

// mimalloc, entered through `mi_malloc` where the layout allows: see allocator.rs.
mod allocator;

// mimalloc's arena committed on demand (issue 14): see allocator_options.rs.
#[cfg(target_os = "linux")]
mod allocator_options;

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
    CheckConfig {
        /// Also tell which route and which policy rule decide this request: METHOD URL.
        #[arg(long, num_args = 2, value_names = ["METHOD", "URL"])]
        explain: Option<Vec<String>>,
        /// A JSON file of token claims (sub, scope, client_id, iss, groups…; `admin: true`
        /// for Gatehouse admin tokens). Without it the request is anonymous.
        #[arg(long, requires = "explain")]
        token_claims: Option<PathBuf>,
        /// The client address the request comes from, for `address` conditions.
        #[arg(long, requires = "explain")]
        address: Option<std::net::IpAddr>,
    },
    /// Make the running Gatehouse read its config file again: SIGHUP to the process in
    /// `server.pid_file`. The file is checked here first; a broken one is reported and not sent.
    Reload {
        /// The pid file to read instead of the config's `server.pid_file` (the config is then
        /// not checked here; the running process still checks it).
        #[arg(long)]
        pid_file: Option<PathBuf>,
    },
    /// Create or upgrade the store's schema, then exit.
    Migrate,
    /// Access tokens, for operators and tests.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Local user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Read a client secret on stdin and print its argon2id hash, for `clients.secret_hash`
    /// (for secrets a person chose; `client-secret` makes better ones).
    HashSecret,
    /// Generate a client secret (256 random bits) and print it, then its `clients.secret_hash`
    /// (SHA-256: checked at the speed of a hash, safe for a secret this random).
    ClientSecret,
    /// Signing keys for `[[tokens.signing_keys]]`.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new private key (PKCS#8 PEM, mode 0600) to a file that must not exist yet.
    Generate {
        /// ed25519 (EdDSA), es256 or rs256.
        #[arg(long, default_value = "ed25519")]
        algorithm: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from stdin (first line).
    Add {
        #[arg(long)]
        username: String,
        /// A group the user belongs to (repeatable; at most 32).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
    },
    /// List users, 10 per page.
    List {
        #[arg(long, default_value_t = 1)]
        page: i64,
    },
    /// Delete a user and revoke every token they hold.
    Delete { id: i64 },
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
        /// Groups the token carries, comma-separated (e.g. `editors,admins`).
        #[arg(long, default_value = "")]
        groups: String,
    },
    /// Revoke a token read from stdin (`-`) or from `--token-file`: never from the command
    /// line, where every user of the machine can read it in the process list.
    Revoke {
        /// `-`: read the token from stdin.
        #[arg(value_name = "-", required_unless_present = "token_file")]
        source: Option<String>,
        /// A file whose first line is the token.
        #[arg(long, conflicts_with = "source")]
        token_file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::ClientSecret)) {
        // Needs no config either; the secret goes to the client, the hash into the config.
        let (secret, hash) = gatehouse::oauth::client_secret::generate();
        println!("{secret}\n{hash}");
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Keys {
        command: KeysCommand::Generate { algorithm, out },
    }) = &cli.command
    {
        // Needs no config: the key is written before the config names it.
        return match generate_key(algorithm, out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gatehouse keys generate: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if matches!(cli.command, Some(Command::HashSecret)) {
        // Needs no config: operators run it before writing one.
        return match read_stdin_line().and_then(|s| hash_now(&s)) {
            Ok(hash) => {
                println!("{hash}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("gatehouse: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Reload {
        pid_file: Some(pid_file),
    }) = &cli.command
    {
        return send_reload(pid_file);
    }
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::CheckConfig {
            explain,
            token_claims,
            address,
        } => match gatehouse::app::check_routes(&config) {
            Ok(()) => {
                for w in config.warnings() {
                    eprintln!("{}: warning: {w}", cli.config.display());
                }
                println!("{}: ok", cli.config.display());
                match explain {
                    Some(request) => explain_request(&config, &request, token_claims, address),
                    None => ExitCode::SUCCESS,
                }
            }
            Err(problems) => {
                for p in problems {
                    eprintln!("{}: {p}", cli.config.display());
                }
                ExitCode::FAILURE
            }
        },
        Command::Run => {
            let telemetry = match gatehouse::telemetry::init(&config.log, config.tracing.as_ref()) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("gatehouse: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let started = Gatehouse::build(config).and_then(|g| {
                tracing::info!("gatehouse starting");
                g.config_file(&cli.config).run_forever()
            });
            let code = match started {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("gatehouse: {e}");
                    ExitCode::FAILURE
                }
            };
            // The last requests' spans are still in the batch: send them before exiting.
            telemetry.shutdown();
            code
        }
        Command::Reload { .. } => {
            if let Err(problems) = gatehouse::app::check_routes(&config) {
                for p in problems {
                    eprintln!("{}: {p}", cli.config.display());
                }
                eprintln!("gatehouse: not reloaded; the running config stays");
                return ExitCode::FAILURE;
            }
            match &config.server.pid_file {
                Some(pid_file) => send_reload(pid_file),
                None => {
                    eprintln!(
                        "gatehouse: {}: server.pid_file is not set, so the running process cannot be found (set it, or pass --pid-file)",
                        cli.config.display()
                    );
                    ExitCode::FAILURE
                }
            }
        }
        Command::Migrate => with_store(&config, |_, _| async {
            Ok("migrations applied".to_string())
        }),
        Command::Token { command } => token_command(&config, command),
        Command::User { command } => user_command(&config, command),
        Command::HashSecret | Command::ClientSecret | Command::Keys { .. } => ExitCode::SUCCESS,
    }
}

fn read_stdin_line() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    let line = line.trim_end_matches(['\n', '\r']).to_string();
    if line.is_empty() {
        return Err("nothing on stdin".into());
    }
    Ok(line)
}

fn user_command(config: &Config, command: UserCommand) -> ExitCode {
    match command {
        UserCommand::Add { username, groups } => {
            let groups = match normalize_groups(groups.iter().map(String::as_str)) {
                Ok(g) => g,
                Err(e) => {
                    eprintln!("--group: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let password = match read_stdin_line() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("gatehouse: {e} (give the password on stdin)");
                    return ExitCode::FAILURE;
                }
            };
            if let Some(problem) = password_problem(&password) {
                eprintln!("gatehouse: {problem}");
                return ExitCode::FAILURE;
            }
            let reserved = ReservedNames::new(config.clients.iter().map(|c| c.id.as_str()));
            with_store(config, move |_, store| async move {
                // The sign-up API's rules and messages, so an operator cannot add a name a
                // user could not.
                let refused = |e: gatehouse::http::ApiError| e.description(Contract::UsersApi);
                let name = screen_username(&reserved, &username)
                    .map_err(refused)?
                    .settle(&store)
                    .await
                    .map_err(refused)?;
                let password_hash = store
                    .blocking(move || hash_now(&password))
                    .await
                    .map_err(|e| e.to_string())??;
                let new = NewUser {
                    username: name.display,
                    username_key: name.key,
                    username_skeleton: name.skeleton,
                    password_hash,
                    groups,
                };
                let now = now_unix();
                match store
                    .run(move |s| async move { s.create_user(&new, now).await })
                    .await
                {
                    Ok(u) => Ok(format!("{}\t{}", u.id, u.username)),
                    Err(StoreError::Conflict) => Err("this username is already taken".into()),
                    Err(e) => Err(e.to_string()),
                }
            })
        }
        UserCommand::List { page } => with_store(config, move |_, store| async move {
            let page = page.max(1);
            let (users, total) = store
                .run(move |s| async move { s.list_users((page - 1) * 10, 10).await })
                .await
                .map_err(|e| e.to_string())?;
            let mut out = format!("page {page}, {total} users");
            for u in users {
                out.push_str(&format!(
                    "\n{}\t{}\t{}",
                    u.id,
                    u.username,
                    u.groups.replace(' ', ",")
                ));
            }
            Ok(out)
        }),
        UserCommand::Delete { id } => with_store(config, move |_, store| async move {
            let now = now_unix();
            match store
                .run(move |s| async move { s.delete_user(id, now).await })
                .await
            {
                Ok(Some(revoked)) => {
                    Ok(format!("deleted; {} access tokens revoked", revoked.len()))
                }
                Ok(None) => Err("no such user".into()),
                Err(e) => Err(e.to_string()),
            }
        }),
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
            groups,
        } => {
            let groups = match parse_group_list(&groups) {
                Ok(g) => g
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                Err(e) => {
                    eprintln!("--groups: {e}");
                    return ExitCode::FAILURE;
                }
            };
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
                groups,
            };
            with_store(config, move |tokens, _| async move {
                tokens.issue(new, ttl).await.map_err(|e| e.to_string())
            })
        }
        TokenCommand::Revoke { source, token_file } => {
            let read = match (source.as_deref(), token_file) {
                (_, Some(path)) => std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))
                    .map(|text| text.lines().next().unwrap_or("").trim().to_string()),
                (Some("-"), None) => read_stdin_line().map(|t| t.trim().to_string()),
                // Whatever was typed is already in the process list: say so, and do not use it.
                (_, None) => Err(
                    "the token is not taken from the command line (it would show in \
                     the process list): pass `-` and write it to stdin, or use --token-file"
                        .to_string(),
                ),
            };
            let token = match read {
                Ok(t) if !t.is_empty() => t,
                Ok(_) => {
                    eprintln!("gatehouse: the token is empty");
                    return ExitCode::FAILURE;
                }
                Err(e) => {
                    eprintln!("gatehouse: {e}");
                    return ExitCode::FAILURE;
                }
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
        let opened = gatehouse::server::open_store(config, &runtime).map_err(|e| e.to_string())?;
        let store = opened.handle;
        let metrics =
            std::sync::Arc::new(gatehouse::metrics::Metrics::new().map_err(|e| e.to_string())?);
        // Operator tasks handle Gatehouse's own tokens: no external issuer's keys are fetched.
        let own_tokens = gatehouse::Config {
            jwt: None,
            ..config.clone()
        };
        let validator = std::sync::Arc::new(gatehouse::auth::CachedValidator::new(
            gatehouse::app::token_validator(&own_tokens, store.clone(), metrics.clone())?,
            &config.cache,
            metrics,
            opened.checksum.clone(),
        ));
        let tokens = gatehouse::auth::TokenService::new(store.clone(), validator, opened.checksum);
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
