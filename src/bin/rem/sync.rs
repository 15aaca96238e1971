//! `rem sync` (a device syncing with a hub) and `rem serve` (the hub).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use remdb::Tenant;

use crate::output::Output;
use crate::CliError;

#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    #[command(subcommand)]
    what: Option<SyncCommand>,
    /// The hub's URL, e.g. http://127.0.0.1:7077 (env REM_HUB)
    #[arg(long, value_name = "URL")]
    hub: Option<String>,
    /// The bearer token `rem serve token` printed (env REM_HUB_TOKEN)
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// Keep following the hub until interrupted: after each round, wait on the hub (a
    /// long-poll) and apply what it brings at once
    #[arg(long)]
    watch: bool,
    /// Seconds to wait before trying again after a failed round with --watch
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    interval: u64,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SyncCommand {
    /// Where this device stands: its id, positions pushed and pulled, outbox size
    Status,
    /// Concurrent writes to one field this device took part in, as the hub resolved them
    Conflicts,
    /// Local changes the hub refused, with the reason
    Rejected,
}

impl SyncArgs {
    /// Whether the command only reads.
    pub(crate) fn only_reads(&self) -> bool {
        self.what.is_some()
    }
}

fn setting(flag: Option<String>, env: &str, what: &str) -> Result<String, CliError> {
    flag.or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()))
        .ok_or_else(|| CliError::Message(format!("give the hub's {what} with --{what} or {env}")))
}

/// Runs `rem sync`.
pub(crate) fn sync(t: &Tenant, args: SyncArgs, out: &mut Output) -> Result<(), CliError> {
    match args.what {
        Some(SyncCommand::Status) => {
            let status = t.sync_status()?;
            if out.json() {
                return Ok(out.compact(&status)?);
            }
            out.line(&format!(
                "device {}\npushed through local seq {}, pulled through hub seq {}\n{} change(s) waiting to be pushed, {} rejected, {} conflict(s)",
                status.device.as_deref().unwrap_or("(not synced yet)"),
                status.pushed,
                status.pulled,
                status.outbox,
                status.rejected,
                status.conflicts
            ))?;
            Ok(())
        }
        Some(SyncCommand::Conflicts) => Ok(out.document(&t.conflicts()?)?),
        Some(SyncCommand::Rejected) => Ok(out.document(&t.rejected()?)?),
        None => {
            let hub = setting(args.hub, "REM_HUB", "hub")?;
            let token = setting(args.token, "REM_HUB_TOKEN", "token")?;
            loop {
                match t.sync(&hub, &token) {
                    Ok(round) => {
                        if out.json() || !args.watch || round.pushed + round.pulled > 0 {
                            report(&round, out)?;
                        }
                    }
                    Err(e) if args.watch => {
                        // Offline for now: the outbox keeps everything; try again later.
                        eprintln!("rem sync: {e}");
                    }
                    Err(e) => return Err(e.into()),
                }
                if !args.watch {
                    return Ok(());
                }
                if let Err(e) = follow(t, &hub, &token, out) {
                    eprintln!("rem sync: {e}");
                    std::thread::sleep(std::time::Duration::from_secs(args.interval.max(1)));
                }
            }
        }
    }
}

/// How long one `--watch` long-poll waits on the hub, seconds.
const WATCH_WAIT_SECONDS: u64 = 25;

/// Waits on the hub (one long-poll) and applies what it brings; reports it like a round.
fn follow(t: &Tenant, hub: &str, token: &str, out: &mut Output) -> Result<(), CliError> {
    let steps = t.sync_steps();
    let since = steps.pull_since()?;
    let answer = remdb::sync::HttpHub::new(hub, token).pull_waiting(
        since,
        remdb::sync::protocol::MAX_PULL_ENTRIES,
        WATCH_WAIT_SECONDS,
    )?;
    if answer.entries.is_empty() {
        return Ok(());
    }
    let (pulled, _) = steps.take_pull(since, &answer)?;
    report(
        &remdb::sync::SyncReport {
            pulled,
            hub_seq: answer.hub_seq,
            ..Default::default()
        },
        out,
    )
}

/// Prints what a round (or a followed pull) did: one JSON object, or one line.
fn report(report: &remdb::sync::SyncReport, out: &mut Output) -> Result<(), CliError> {
    if out.json() {
        out.compact(report)?;
    } else {
        out.line(&format!(
            "pushed {}, pulled {}, rejected {}, conflicts {}; hub at seq {}",
            report.pushed, report.pulled, report.rejected, report.conflicts, report.hub_seq
        ))?;
    }
    out.flush()?;
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(subcommand)]
    what: Option<ServeCommand>,
    /// The hub's data directory (its database and signing keys)
    #[arg(long, global = true, value_name = "DIR", default_value = "./rem-hub")]
    data: PathBuf,
    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7077")]
    listen: String,
    /// Keep the hub's state and keys in PostgreSQL instead of --data, shared by every
    /// `rem serve` given the same URL (env REM_HUB_POSTGRES)
    #[arg(long, global = true, value_name = "URL")]
    postgres: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ServeCommand {
    /// Print a token for one tenant, signed with the hub's current key
    Token {
        /// The tenant the token opens
        #[arg(long)]
        tenant: String,
        /// Only this device id may push with it
        #[arg(long)]
        device: Option<String>,
        /// Pulls only
        #[arg(long)]
        read_only: bool,
        /// May push schema changes
        #[arg(long)]
        admin: bool,
        /// Days until it expires
        #[arg(long, default_value_t = 365)]
        days: u64,
    },
}

/// Runs `rem serve` (needs a `rem` built with the `server` feature).
pub(crate) fn serve(args: ServeArgs, out: &mut Output) -> Result<(), CliError> {
    #[cfg(feature = "server")]
    {
        use remdb::sync::server::{serve, ServeOptions};
        use remdb::sync::token::{Claims, TokenKeys};
        let postgres = args.postgres.clone().or_else(|| {
            std::env::var("REM_HUB_POSTGRES")
                .ok()
                .filter(|v| !v.is_empty())
        });
        match args.what {
            Some(ServeCommand::Token {
                tenant,
                device,
                read_only,
                admin,
                days,
            }) => {
                let keys = match &postgres {
                    Some(url) => TokenKeys::load_or_create_in(&remdb::kv::PgKv::connect(url, 2)?)?,
                    None => TokenKeys::load_or_create(&args.data)?,
                };
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let token = keys.issue(Claims {
                    kid: String::new(),
                    tenant,
                    device,
                    read_only,
                    admin,
                    exp: now.saturating_add(days.saturating_mul(86_400)),
                })?;
                if out.json() {
                    out.compact(&serde_json::json!({ "token": token }))?;
                } else {
                    out.line(&token)?;
                }
                Ok(())
            }
            None => {
                let listen = args
                    .listen
                    .parse()
                    .map_err(|e| CliError::Message(format!("--listen {}: {e}", args.listen)))?;
                let options = ServeOptions {
                    data: args.data,
                    listen,
                    postgres,
                };
                let json = out.json();
                serve(&options, |addr| {
                    // The first line says where the hub listens (tests read it).
                    if json {
                        println!("{}", serde_json::json!({ "listening": addr.to_string() }));
                    } else {
                        println!("rem hub listening on http://{addr}");
                    }
                })?;
                Ok(())
            }
        }
    }
    #[cfg(not(feature = "server"))]
    {
        let _ = (args, out);
        Err(CliError::Message(
            "this `rem` was built without the hub: build it with `cargo build --features server`"
                .into(),
        ))
    }
}
