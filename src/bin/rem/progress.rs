//! Progress bars (counts, rate, ETA) for long work, drawn on stderr only when a person watches:
//! stdout and stderr are terminals and JSON output was not asked for.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Whether progress is shown: both streams are terminals and output is text.
pub(crate) fn wanted(json: bool) -> bool {
    !json && std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

/// A bar over `total` bytes (rate in bytes per second), or `None` when no one watches.
pub(crate) fn bytes(json: bool, total: u64, what: &str) -> Option<ProgressBar> {
    wanted(json).then(|| {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(what.to_string());
        bar
    })
}

/// A bar over `total` items (`None`: an unknown number, a counting spinner), or `None` when
/// no one watches.
pub(crate) fn items(json: bool, total: Option<u64>, what: &str) -> Option<ProgressBar> {
    wanted(json).then(|| {
        let (bar, template) = match total {
            Some(total) => (
                ProgressBar::new(total),
                "{prefix} [{bar:30}] {human_pos}/{human_len} {per_sec} ETA {eta} {msg}",
            ),
            None => (
                ProgressBar::new_spinner(),
                "{spinner} {prefix} {human_pos} {per_sec} {elapsed} {msg}",
            ),
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(what.to_string());
        if total.is_none() {
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
        }
        bar
    })
}
