//! How long a rank with nothing to do waits before it looks again: briefly
//! while messages flow, up to a millisecond when they do not, so an idle
//! rank costs its host's workers next to nothing (MPI's own blocking calls
//! would spin on a core).

use std::time::Duration;

const SHORTEST: Duration = Duration::from_micros(20);
const LONGEST: Duration = Duration::from_millis(1);

#[derive(Debug)]
pub struct Idle {
    next: Duration,
}

impl Default for Idle {
    fn default() -> Self {
        Idle { next: SHORTEST }
    }
}

impl Idle {
    /// Something happened: look again soon.
    pub fn reset(&mut self) {
        self.next = SHORTEST;
    }

    /// Nothing happened: the wait before looking again, longer each time.
    pub fn wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(LONGEST);
        wait
    }
}
