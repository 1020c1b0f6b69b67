//! One finished prime check as the program reports it: checked, or given up on.

use procpool::{Death, PrimeResult};

/// A number that could not be checked: every worker loss it caused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedJob {
    /// Position in submission order.
    pub index: u64,
    pub n: u64,
    pub deaths: Vec<Death>,
}

/// One finished job: checked, or given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completed {
    Checked(PrimeResult),
    Failed(FailedJob),
}
