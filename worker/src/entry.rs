//! How a worker finds the code for its job type without a registry: the
//! supervisor sends the address of `serve_jobs::<J>` (and of an
//! initializer) as an offset from an anchor function in the same binary,
//! and the worker adds its own anchor's address. Offsets within one binary
//! do not change with address-space randomisation, so this is sound exactly
//! when both processes run the same build, which the handshake checks
//! (see [`crate::build_id`]) before any offset is used. All the unsafety of
//! the scheme lives in this file.

use crate::serve::{Link, ServeError};

/// What a worker jumps to once set up: serves jobs of one type.
pub type ServeFn = fn(Link) -> Result<(), ServeError>;

/// A user's initializer, run once in each worker before its first job.
pub type InitFn = fn();

#[inline(never)]
fn anchor() {
    // Never called: only its address matters. The body keeps it from being
    // merged with another empty function.
    std::hint::black_box(0x9e37_79b9_u32);
}

fn anchor_address() -> i64 {
    anchor as fn() as usize as i64
}

/// The offset of a serve function from the anchor.
pub fn serve_offset(f: ServeFn) -> i64 {
    f as usize as i64 - anchor_address()
}

/// The offset of an initializer from the anchor.
pub fn init_offset(f: InitFn) -> i64 {
    f as usize as i64 - anchor_address()
}

/// The serve function at `offset`.
///
/// # Safety
/// `offset` must come from [`serve_offset`] in a process running the same
/// build as this one (same build id).
pub unsafe fn serve_at(offset: i64) -> ServeFn {
    let address = (anchor_address() + offset) as usize;
    // SAFETY: by the caller's promise, `address` is a ServeFn of this binary.
    unsafe { std::mem::transmute::<usize, ServeFn>(address) }
}

/// The initializer at `offset`.
///
/// # Safety
/// As for [`serve_at`], with [`init_offset`].
pub unsafe fn init_at(offset: i64) -> InitFn {
    let address = (anchor_address() + offset) as usize;
    // SAFETY: by the caller's promise, `address` is an InitFn of this binary.
    unsafe { std::mem::transmute::<usize, InitFn>(address) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_nothing(_: Link) -> Result<(), ServeError> {
        Ok(())
    }

    #[test]
    fn offsets_round_trip_in_one_process() {
        let f: ServeFn = serve_nothing;
        // SAFETY: same process, same build.
        let back = unsafe { serve_at(serve_offset(f)) };
        assert_eq!(back as usize, f as usize);
    }
}
