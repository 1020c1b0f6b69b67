//! Where a map's numbers come from. A plain iterator is always ready; a
//! stream fed by another thread (a pipe, a slow file) may have nothing yet,
//! and the dispatcher must then keep serving replies, signals and timeouts
//! instead of blocking on the read.

/// One attempt to take the next number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    Number(u64),
    /// Nothing available right now; ask again shortly.
    NotYet,
    /// The input is exhausted.
    End,
}

/// A source of numbers that can say "not yet" instead of blocking.
pub trait JobSource {
    fn pull(&mut self) -> Pull;
}

impl<S: JobSource + ?Sized> JobSource for &mut S {
    fn pull(&mut self) -> Pull {
        (**self).pull()
    }
}
