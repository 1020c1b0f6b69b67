//! The progress bar: on stderr, only for a terminal, only once a run has
//! lasted about a second, never with --json or --quiet (the caller decides
//! those). No colours, so NO_COLOR has nothing to turn off.

use std::io::IsTerminal;
use std::thread;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Runs shorter than this never show a bar.
pub const SHOW_AFTER: Duration = Duration::from_secs(1);

/// A bar that appears late, or never.
pub struct Progress {
    label: String,
    total: Option<u64>,
    started: Instant,
    done: u64,
    bar: Option<ProgressBar>,
    enabled: bool,
}

impl Progress {
    /// `wanted` is the caller's verdict (no --json, no --quiet, no number lines
    /// on the same terminal); a bar still needs stderr to be a terminal.
    pub fn new(wanted: bool, label: String, total: Option<u64>) -> Self {
        let enabled =
            wanted && std::io::stderr().is_terminal() && std::env::var_os("TERM") != Some("dumb".into());
        Progress { label, total, started: Instant::now(), done: 0, bar: None, enabled }
    }

    /// Counts `jobs` more finished jobs.
    pub fn tick(&mut self, jobs: u64) {
        let before = self.done;
        self.done += jobs;
        if let Some(bar) = &self.bar {
            bar.inc(jobs);
        } else if self.enabled
            && (self.done < 64 || before / 4096 != self.done / 4096)
            && self.started.elapsed() >= SHOW_AFTER
        {
            self.bar = Some(self.show());
        }
    }

    fn show(&self) -> ProgressBar {
        let (bar, template) = match self.total {
            // No rate or ETA: the bar starts late, mid-run, where indicatif's estimate is wild.
            Some(total) => {
                (ProgressBar::new(total), "{prefix} [{bar:30}] {pos}/{len} ({percent}%) {elapsed}")
            }
            None => (ProgressBar::no_length(), "{prefix} {spinner} {pos} checked {elapsed}"),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style.progress_chars("=> "));
        bar.set_prefix(self.label.clone());
        bar.set_position(self.done);
        keep_ticking(&bar);
        bar
    }
}

/// Redraws the bar every 200 ms so its clock moves during a long job, until
/// the bar is dropped. A thread of our own rather than indicatif's steady
/// tick, whose spawn panics when no thread can be started: then the bar only
/// moves as jobs finish.
fn keep_ticking(bar: &ProgressBar) {
    let weak = bar.downgrade();
    let _ = thread::Builder::new().name("progress".into()).spawn(move || loop {
        thread::sleep(Duration::from_millis(200));
        match weak.upgrade() {
            Some(bar) if !bar.is_finished() => bar.tick(),
            _ => return,
        }
    });
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
