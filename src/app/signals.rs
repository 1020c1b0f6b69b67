//! SIGINT, SIGTERM and SIGHUP (the terminal closed): remembered, not acted
//! on in the handler. The pool polls the flag and stops; the app then reports
//! how far it got. A reader that left stdout raises the same flag, so a run
//! stops at once instead of at its next line. Output that nobody reads
//! cannot hold a stop up for long (see `stuck_output`). A signal that was
//! already ignored when the program started (`nohup procpool ... &`, a
//! non-interactive shell's background job) stays ignored: that is what those
//! callers asked for, and the workers inherit the same disposition.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::{io, ptr};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use super::AppError;
use crate::executor::Variant;

/// Stands for "stdout's reader left" where a signal number would be.
const STDOUT_CLOSED: usize = usize::MAX;

/// Which stop signal arrived, if any.
#[derive(Clone)]
pub struct StopSignals {
    pub flag: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

impl StopSignals {
    /// Installs the handlers (a second signal still only sets the flags),
    /// except for a signal inherited as ignored, which is left ignored, then
    /// runs `before_threads` and starts watching for output nobody reads:
    /// `before_threads` is the moment to fork the pools' fork server, when
    /// the program has no thread and a stop signal is already its to report.
    pub fn install(before_threads: impl FnOnce()) -> io::Result<Self> {
        let stop =
            StopSignals { flag: Arc::new(AtomicBool::new(false)), which: Arc::new(AtomicUsize::new(0)) };
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            if ignored(signal)? {
                continue;
            }
            signal_hook::flag::register_usize(signal, Arc::clone(&stop.which), signal as usize)?;
            signal_hook::flag::register(signal, Arc::clone(&stop.flag))?;
        }
        before_threads();
        super::stuck_output::watch(stop.clone());
        Ok(stop)
    }

    pub fn raised(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Stops the run because nobody reads its output any more.
    pub fn stdout_closed(&self) {
        let _ = self.which.compare_exchange(0, STDOUT_CLOSED, Ordering::Relaxed, Ordering::Relaxed);
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Why the `variant` run stopped after `results` results: a signal, with
    /// the conventional exit code 128 + its number, or a closed stdout.
    pub fn error(&self, variant: Variant, results: u64) -> AppError {
        match self.signal() {
            Some((signal, code)) => AppError::Interrupted { signal, code, variant, results },
            None => AppError::Output(std::io::ErrorKind::BrokenPipe.into()),
        }
    }

    /// The stop signal that came, by name, with its exit code (128 + its
    /// number); None before one, and for a closed stdout.
    pub fn signal(&self) -> Option<(&'static str, u8)> {
        let (signal, number) = match self.which.load(Ordering::Relaxed) {
            STDOUT_CLOSED => return None,
            _ if !self.raised() => return None,
            n if n == SIGTERM as usize => ("SIGTERM", SIGTERM),
            n if n == SIGHUP as usize => ("SIGHUP", SIGHUP),
            _ => ("SIGINT", SIGINT),
        };
        Some((signal, 128 + number as u8))
    }
}

/// True when `signal` is ignored (SIG_IGN) in this process right now.
fn ignored(signal: libc::c_int) -> io::Result<bool> {
    let mut current = MaybeUninit::<libc::sigaction>::uninit();
    // SAFETY: with a null new action, sigaction only writes the current one
    // into `current`, which is valid for that write.
    if unsafe { libc::sigaction(signal, ptr::null(), current.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the call succeeded, so it filled `current` in.
    Ok(unsafe { current.assume_init() }.sa_sigaction == libc::SIG_IGN)
}
