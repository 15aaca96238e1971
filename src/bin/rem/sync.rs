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
    /// Keep following the hub until interrupted: after each round, follow the hub's stream of
    /// log entries (server-sent events) and apply what it brings at once
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
                        if out.json()
                            || !args.watch
                            || round.pushed + round.pulled + round.loaded > 0
                        {
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

/// How long `--watch` follows one stream before the next round (which pushes anything written
/// meanwhile), seconds.
const WATCH_STREAM_SECONDS: u64 = 300;

/// Follows the hub's stream and applies each batch of entries as it lands, reporting each
/// like a round; returns when the stream ends (or the device must load a snapshot, which the
/// next round does).
fn follow(t: &Tenant, hub: &str, token: &str, out: &mut Output) -> Result<(), CliError> {
    let steps = t.sync_steps();
    let plan = steps.next_pull()?;
    if plan.snapshot {
        return Ok(());
    }
    let mut since = plan.since;
    let mut printed: Result<(), CliError> = Ok(());
    remdb::sync::HttpHub::new(hub, token).stream(&plan, WATCH_STREAM_SECONDS, |answer| {
        let (pulled, _) = steps.take_pull(since, &answer)?;
        if answer.snapshot {
            return Ok(false);
        }
        since = steps.pull_since()?;
        printed = report(
            &remdb::sync::SyncReport {
                pulled,
                hub_seq: answer.hub_seq,
                ..Default::default()
            },
            out,
        );
        Ok(printed.is_ok())
    })?;
    printed
}

/// Prints what a round (or a followed pull) did: one JSON object, or one line.
fn report(report: &remdb::sync::SyncReport, out: &mut Output) -> Result<(), CliError> {
    if out.json() {
        out.compact(report)?;
    } else {
        out.line(&format!(
            "pushed {}, pulled {}, loaded {}, rejected {}, conflicts {}; hub at seq {}",
            report.pushed,
            report.pulled,
            report.loaded,
            report.rejected,
            report.conflicts,
            report.hub_seq
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
    /// Log entries every tenant keeps, however far behind its devices are
    #[arg(long, global = true, value_name = "N", default_value_t = 100_000)]
    keep_log: u64,
    /// Days after which a device that has not pulled no longer holds the log back (it loads a
    /// snapshot when it returns)
    #[arg(long, global = true, value_name = "DAYS", default_value_t = 7.0)]
    device_ttl_days: f64,
    /// Days after which a silent device no longer holds tombstones (purged rows, removed
    /// edges) back; a device offline longer may bring a purged row back
    #[arg(long, global = true, value_name = "DAYS", default_value_t = 30.0)]
    tombstone_ttl_days: f64,
    /// Seconds between compactions of every tenant (0: never)
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    compact_every: u64,
}

#[cfg(feature = "server")]
impl ServeArgs {
    fn retention(&self) -> Result<remdb::sync::hub::Retention, CliError> {
        let ms = |days: f64, flag: &str| {
            if days.is_finite() && days >= 0.0 {
                Ok((days * 86_400_000.0).min(u64::MAX as f64) as u64)
            } else {
                Err(CliError::Message(format!(
                    "--{flag} must be a number of days ≥ 0, got {days}"
                )))
            }
        };
        Ok(remdb::sync::hub::Retention {
            keep_entries: self.keep_log,
            device_ttl_ms: ms(self.device_ttl_days, "device-ttl-days")?,
            tombstone_ttl_ms: ms(self.tombstone_ttl_days, "tombstone-ttl-days")?,
        })
    }
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
    /// Compact every tenant's log and tombstones now (as the running hub does every
    /// --compact-every seconds) and print what was dropped
    Compact,
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
        let retention = args.retention()?;
        match args.what {
            Some(ServeCommand::Compact) => {
                let db = match &postgres {
                    Some(url) => remdb::Database::with_kv(std::sync::Arc::new(
                        remdb::kv::PgKv::connect(url, 2)?,
                    )),
                    None => remdb::Database::open(args.data.join("hub"))?,
                };
                let mut done = serde_json::Map::new();
                for name in db.tenants()? {
                    let compaction = db.tenant(&name)?.hub().compact(&retention)?;
                    if !out.json() {
                        out.line(&format!(
                            "{name}: log starts at seq {}; removed {} entries, {} tombstones; forgot {} device(s)",
                            compaction.log_start,
                            compaction.entries_removed,
                            compaction.tombstones_removed,
                            compaction.devices_forgotten
                        ))?;
                    }
                    done.insert(name, serde_json::to_value(compaction).unwrap_or_default());
                }
                if out.json() {
                    out.compact(&done)?;
                }
                Ok(())
            }
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
                    retention,
                    compact_every: (args.compact_every > 0)
                        .then(|| std::time::Duration::from_secs(args.compact_every)),
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
