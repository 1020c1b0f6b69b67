//! An allocation that fails ends the program with one line and exit code 1,
//! not Rust's abort (exit 134, "memory allocation of N bytes failed" and a
//! core dump). Under a low `ulimit -v` the first allocation to fail is often
//! deep in a dependency: ipc-channel allocates a buffer of one socket
//! fragment (about 200 KB) for every message it receives, the handshake's
//! included. Stable Rust cannot replace the handler that aborts, but the
//! global allocator sees the failure first, so it reports it and exits there.
//!
//! The price: an allocation that a caller meant to survive (`try_reserve`,
//! which std's `read_to_end` uses) ends the program too. In this program such
//! a failure would have ended the run with a one-line error anyway.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

/// The system allocator, which exits cleanly instead of returning null.
pub struct ExitWhenOutOfMemory;

/// The supervisor's pid, set once `main` runs past `worker_entry`. Executed
/// workers never get there; the early fork server and its workers are
/// copies of the supervisor made after it, and tell by their own pid.
static SUPERVISOR: AtomicU32 = AtomicU32::new(0);

/// Marks this process as the supervisor, for the message, and turns std's
/// panic when a new thread cannot get its signal stack (an mmap that failed,
/// in std's thread start, outside any code of ours) into the same exit.
pub fn in_supervisor() {
    SUPERVISOR.store(std::process::id(), Ordering::Relaxed);
    one_malloc_arena_under_an_address_space_limit();
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload.downcast_ref::<String>().map(String::as_str);
        if message
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default()
            .starts_with("failed to allocate an alternative stack")
        {
            out_of_memory("a new thread's signal stack");
        }
        default(info)
    }));
}

/// Under `ulimit -v`, glibc cannot reserve the 64 MiB a new thread's malloc
/// arena takes, and then maps a page for each allocation that thread makes.
/// The first of them is std registering the thread's TLS destructor, and
/// glibc aborts when that fails ("Fatal glibc error: failed to register TLS
/// destructor"), outside any allocator of ours. With one arena every thread
/// takes memory from the main heap's slack, and what fails first is an
/// allocation [`ExitWhenOutOfMemory`] sees. Only under a limit: one arena
/// slows the rayon variant's threads by about a tenth.
fn one_malloc_arena_under_an_address_space_limit() {
    use nix::sys::resource::{getrlimit, Resource, RLIM_INFINITY};
    if getrlimit(Resource::RLIMIT_AS).is_ok_and(|(soft, _)| soft != RLIM_INFINITY) {
        // SAFETY: mallopt only sets a tunable; no thread exists yet.
        #[cfg(target_env = "gnu")]
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1)
        };
    }
}

// SAFETY: every call is passed to `System` unchanged; only a null result,
// which the caller would treat as a failure, is turned into an exit.
unsafe impl GlobalAlloc for ExitWhenOutOfMemory {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is `System`'s.
        checked(unsafe { System.alloc(layout) }, layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        checked(unsafe { System.alloc_zeroed(layout) }, layout.size())
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc`; `ptr` came from `System` through us.
        checked(unsafe { System.realloc(ptr, layout, new_size) }, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through us, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// `ptr`, unless it is null: then one line on stderr and exit code 1.
fn checked(ptr: *mut u8, size: usize) -> *mut u8 {
    if ptr.is_null() {
        out_of_memory(format_args!("{size} bytes"));
    }
    ptr
}

/// Who says why this process ends: nobody yet, `main` (an error line), or a
/// thread that found memory short. There is one such line, never two.
static LAST_WORD: AtomicU8 = AtomicU8::new(NOBODY);
const NOBODY: u8 = 0;
const MAIN: u8 = 1;
const OUT_OF_MEMORY: u8 = 2;

/// Claims the line that says why the program ends, for `main`'s error. If a
/// thread is already saying it is out of memory, waits for it to end the
/// process (it only writes a line and exits).
pub fn claim_last_word() {
    if LAST_WORD.compare_exchange(NOBODY, MAIN, Ordering::SeqCst, Ordering::SeqCst) == Err(OUT_OF_MEMORY) {
        wait_for_exit();
    }
}

fn wait_for_exit() -> ! {
    loop {
        // SAFETY: pause only waits for a signal.
        unsafe { libc::pause() };
    }
}

#[cold]
fn out_of_memory(what: impl std::fmt::Display) -> ! {
    match LAST_WORD.swap(OUT_OF_MEMORY, Ordering::SeqCst) {
        // `main` has said why the run ends and is on its way out.
        // SAFETY: _exit ends the process at once.
        MAIN => unsafe { libc::_exit(1) },
        // Another thread is saying it and exiting.
        OUT_OF_MEMORY => wait_for_exit(),
        _ => {}
    }
    // Formatted on the stack and written with one write(2): no allocation, no lock.
    let mut line = StackLine { bytes: [0; 200], len: 0 };
    let pid = std::process::id();
    let _ = if SUPERVISOR.load(Ordering::Relaxed) == pid {
        writeln!(line, "procpool: out of memory: cannot allocate {what} (is ulimit -v too low?)")
    } else {
        writeln!(line, "procpool: out of memory in child process {pid}: cannot allocate {what}")
    };
    // SAFETY: writes `len` initialised bytes of a live buffer; _exit ends the
    // process at once, without running anything that could allocate again.
    unsafe {
        libc::write(libc::STDERR_FILENO, line.bytes.as_ptr().cast(), line.len);
        libc::_exit(1)
    }
}

/// A line formatted into a fixed buffer (cut short if it does not fit).
struct StackLine {
    bytes: [u8; 200],
    len: usize,
}

impl Write for StackLine {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let room = self.bytes.len() - self.len;
        let taken = text.len().min(room);
        self.bytes[self.len..self.len + taken].copy_from_slice(&text.as_bytes()[..taken]);
        self.len += taken;
        Ok(())
    }
}
