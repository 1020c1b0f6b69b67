//! The progress bar: on stderr, only for a terminal, only once a run has
//! lasted about a second, never with --json or --quiet (the caller decides
//! those). No colours, so NO_COLOR has nothing to turn off.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    /// Raised by a timer thread once the run has lasted [`SHOW_AFTER`]: a
    /// tick only loads it, where a read of the clock per tick would cost a
    /// million tiny jobs more than their bar is worth, and reading it every
    /// so many jobs missed runs of a few hundred slow ones.
    due: Arc<AtomicBool>,
    bar: Option<ProgressBar>,
    enabled: bool,
}

impl Progress {
    /// `wanted` is the caller's verdict (no --json, no --quiet, no number lines
    /// on the same terminal); a bar still needs stderr to be a terminal.
    pub fn new(wanted: bool, label: String, total: Option<u64>) -> Self {
        let enabled =
            wanted && std::io::stderr().is_terminal() && std::env::var_os("TERM") != Some("dumb".into());
        let due = Arc::new(AtomicBool::new(false));
        if enabled {
            let raise = Arc::clone(&due);
            // No thread to spare: no bar, as for a run that ends within a second.
            let _ = thread::Builder::new().name("progress-due".into()).spawn(move || {
                thread::sleep(SHOW_AFTER);
                raise.store(true, Ordering::Relaxed);
            });
        }
        Progress { label, total, started: Instant::now(), done: 0, due, bar: None, enabled }
    }

    /// Counts `jobs` more finished jobs.
    pub fn tick(&mut self, jobs: u64) {
        self.done += jobs;
        if let Some(bar) = &self.bar {
            bar.inc(jobs);
        } else if self.enabled && self.due.load(Ordering::Relaxed) {
            self.bar = Some(self.show());
        }
    }

    fn show(&self) -> ProgressBar {
        // No rate or ETA: the bar starts late, mid-run, where indicatif's estimate is wild.
        let template = match self.total {
            Some(_) => "{prefix} [{bar:30}] {pos}/{len} ({percent}%) {elapsed}",
            None => "{prefix} {spinner} {pos} checked {elapsed}",
        };
        // Hidden until it is whole, so that its first frame already shows
        // the jobs done and the run's clock, not 0 of each.
        let bar = ProgressBar::with_draw_target(self.total, ProgressDrawTarget::hidden())
            .with_elapsed(self.started.elapsed());
        let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style.progress_chars("=> "));
        bar.set_prefix(self.label.clone());
        bar.set_position(self.done);
        bar.set_draw_target(ProgressDrawTarget::stderr());
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
