//! `sextant admin …`: operators of the admin API. Users sign in with a password
//! (`POST /admin/api/v1/login` gives a short-lived session token); tokens are long-lived
//! credentials for automation. Passwords are read from stdin, never from the command line
//! (where `ps` and shell history would see them).

use std::io::BufRead;

use anyhow::{Context, bail};
use clap::Subcommand;
use sextant_tenancy::{AdminStore, MIN_PASSWORD_LEN};

use crate::cli::ConfigArgs;
use crate::control::{load_pepper, open_for_cli, parse_expiry, time};

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Admin users (sign in to the admin API and console with a password).
    #[command(subcommand)]
    User(UserCommand),
    /// Admin tokens (Bearer credentials for automation).
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create an admin user; the password is the first line of stdin.
    Create {
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List admin users.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create an admin token and print it (the only time it is shown).
    Create {
        name: String,
        /// Expiry from now, e.g. 30d or 12h.
        #[arg(long)]
        expires_in: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List admin tokens (never their secrets).
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Revoke an admin token by its ID.
    Revoke {
        token_id: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

pub(crate) async fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::User(UserCommand::Create { name, config }) => {
            let password = read_password()?;
            let db = open_for_cli(&config.load()?).await?;
            let user = db.create_admin_user(&name, &password).await?;
            println!("created admin user {}", user.name);
        }
        AdminCommand::User(UserCommand::List { config }) => {
            let db = open_for_cli(&config.load()?).await?;
            println!("{:<32} CREATED", "NAME");
            for user in db.list_admin_users().await? {
                println!("{:<32} {}", user.name, time(Some(user.created_at)));
            }
        }
        AdminCommand::Token(TokenCommand::Create {
            name,
            expires_in,
            config,
        }) => {
            let config = config.load()?;
            let pepper = load_pepper(&config.auth.pepper_file, true)?;
            let expires_at = parse_expiry(expires_in.as_deref())?;
            let db = open_for_cli(&config).await?;
            let (token, secret) = db.create_admin_token(&name, expires_at, &pepper).await?;
            println!("created admin token {} ({})", token.token_id, token.name);
            println!("token {secret}");
        }
        AdminCommand::Token(TokenCommand::List { config }) => {
            let db = open_for_cli(&config.load()?).await?;
            println!(
                "{:<28} {:<24} {:<20} {:<20} REVOKED",
                "ID", "NAME", "CREATED", "EXPIRES"
            );
            for t in db.list_admin_tokens().await? {
                println!(
                    "{:<28} {:<24} {:<20} {:<20} {}",
                    t.token_id,
                    t.name,
                    time(Some(t.created_at)),
                    time(t.expires_at),
                    time(t.revoked_at)
                );
            }
        }
        AdminCommand::Token(TokenCommand::Revoke { token_id, config }) => {
            let db = open_for_cli(&config.load()?).await?;
            let t = db.revoke_admin_token(&token_id).await?;
            println!("revoked admin token {} ({})", t.token_id, t.name);
        }
    }
    Ok(())
}

/// The first line of stdin, without its line ending.
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.chars().count() < MIN_PASSWORD_LEN {
        bail!(
            "the password (first line of stdin) must have at least {MIN_PASSWORD_LEN} characters"
        );
    }
    Ok(password)
}
