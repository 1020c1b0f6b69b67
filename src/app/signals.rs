//! SIGINT and SIGTERM: remembered, not acted on in the handler. The pool
//! polls the flag and stops; the app then reports how far it got.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};

/// Which stop signal arrived, if any.
#[derive(Clone)]
pub struct StopSignals {
    pub flag: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

impl StopSignals {
    /// Installs the handlers (a second signal still only sets the flags).
    pub fn install() -> std::io::Result<Self> {
        let stop =
            StopSignals { flag: Arc::new(AtomicBool::new(false)), which: Arc::new(AtomicUsize::new(0)) };
        for signal in [SIGINT, SIGTERM] {
            signal_hook::flag::register_usize(signal, Arc::clone(&stop.which), signal as usize)?;
            signal_hook::flag::register(signal, Arc::clone(&stop.flag))?;
        }
        Ok(stop)
    }

    pub fn raised(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// The conventional exit code: 128 + the signal number (130, 143).
    pub fn exit_code(&self) -> u8 {
        let signal = self.which.load(Ordering::Relaxed);
        128 + if signal == 0 { SIGINT as u8 } else { signal as u8 }
    }

    pub fn name(&self) -> &'static str {
        if self.which.load(Ordering::Relaxed) == SIGTERM as usize {
            "SIGTERM"
        } else {
            "SIGINT"
        }
    }
}
