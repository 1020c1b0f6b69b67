//! The early fork server as a library user starts it: forked by
//! `start_fork_server` while this program still has one thread, lent to one
//! pool at a time, made what an executed helper is (default signal
//! handlers, none of the program's descriptors), refused once threads
//! exist, and forgotten once killed. Its own `main`, and one test at a time:
//! the helper is process-wide, and the order of the pools is the test.

mod common;

use std::collections::HashSet;
use std::os::fd::AsRawFd;

use common::{children_named, first_argument, FORK_SERVER_NAME};
use libtest_mimic::{Arguments, Failed, Trial};
use procpool::{DeathCause, Job, JobError, PoolError, ProcessPool, WorkerOutput};
use procpool_worker::fork_server::FORK_SERVER_FLAG;
use procpool_worker::protocol::WORKER_FLAG;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Pid;

impl Job for Pid {
    type Output = u32;
    fn run(self) -> u32 {
        std::process::id()
    }
}

/// A job that runs until killed.
#[derive(Debug, Serialize, Deserialize)]
struct Forever;

impl Job for Forever {
    type Output = ();
    fn run(self) {
        loop {
            std::thread::park();
        }
    }
}

/// The worker's parent, as the worker sees it.
#[derive(Debug, Serialize, Deserialize)]
struct Parent;

impl Job for Parent {
    type Output = u32;
    fn run(self) -> u32 {
        nix::unistd::getppid().as_raw() as u32
    }
}

/// Prints a line on the worker's stdout.
#[derive(Debug, Serialize, Deserialize)]
struct Say;

impl Job for Say {
    type Output = ();
    fn run(self) {
        println!("said by a worker");
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }
}

extern "C" fn ignore_usr1(_: libc::c_int) {}

fn main() {
    procpool::worker_entry();
    // What a program may have before it starts the helper: a handler of its
    // own, and an open pipe (Rust's are close-on-exec; a fork keeps them).
    // SAFETY: a handler that does nothing is async-signal-safe.
    unsafe { libc::signal(libc::SIGUSR1, ignore_usr1 as *const () as libc::sighandler_t) };
    let (reader, writer) = std::io::pipe().expect("a pipe");
    let pipe = [reader.as_raw_fd(), writer.as_raw_fd()];
    let started = procpool::start_fork_server();
    let helper = named_helper();
    let mut arguments = Arguments::from_args();
    arguments.test_threads = Some(1); // the pools' order is the test
    let tests = vec![
        Trial::test("it_starts_as_a_helper_that_holds_none_of_the_programs_descriptors", move || {
            check(started.is_ok(), format!("{started:?}"))?;
            let helper = helper.ok_or("no fork server among our children")?;
            let theirs = descriptor_targets(helper);
            let ours: Vec<String> = pipe.iter().map(|&fd| target(std::process::id(), fd)).collect();
            check(ours.iter().all(|pipe| !theirs.contains(pipe)), format!("it holds our pipe: {theirs:?}"))?;
            check(start_again().is_ok(), "a second start is not a no-op")?;
            check(self::helper() == Some(helper), "a second start started another helper")
        }),
        Trial::test("pools_one_after_another_fork_every_worker_from_it", move || {
            let helper = helper.ok_or("no fork server")?;
            let mut seen = HashSet::new();
            for _ in 0..3 {
                let pool = ProcessPool::<Pid>::builder().workers(2).build()?;
                let pids = pool.pids();
                for &pid in &pids {
                    check(is_early_forked(pid), format!("worker {pid}: {}", first_argument(pid)))?;
                    check(seen.insert(pid), "a worker outlived its pool")?;
                }
                check(pids.contains(&pool.submit(Pid).wait()?), "the job ran elsewhere")?;
                drop(pool);
                check(self::helper() == Some(helper), "the helper did not outlive a pool")?;
            }
            Ok(())
        }),
        Trial::test("its_workers_die_of_a_signal_the_program_had_a_handler_for", || {
            let pool = ProcessPool::<Forever>::builder()
                .workers(1)
                .worker_stderr(WorkerOutput::Null)
                // Should the handler still be there, the job times out instead.
                .job_timeout(Some(std::time::Duration::from_secs(10)))
                .build()?;
            let worker = pool.pids()[0];
            let handle = pool.submit(Forever);
            std::thread::sleep(std::time::Duration::from_millis(100));
            // SAFETY: kill has no memory effects; `worker` is our unreaped child.
            unsafe { libc::kill(worker as i32, libc::SIGUSR1) };
            match handle.wait() {
                Err(JobError::WorkerDied { deaths }) => check(
                    deaths.iter().any(|d| d.cause == DeathCause::Signaled(libc::SIGUSR1)),
                    format!("{deaths:?}"),
                ),
                other => Err(format!("SIGUSR1 did not kill the worker: {other:?}").into()),
            }
        }),
        Trial::test("a_pool_started_while_another_holds_it_executes_its_own", || {
            let first = ProcessPool::<Pid>::builder().workers(1).build()?;
            let few = ProcessPool::<Pid>::builder().workers(1).build()?;
            let many = ProcessPool::<Pid>::builder().workers(procpool::available_cores() + 1).build()?;
            check(is_early_forked(first.pids()[0]), "the first pool's worker was not forked early")?;
            check(
                first_argument(few.pids()[0]) == WORKER_FLAG,
                "a one-worker pool's worker was not executed",
            )?;
            for pid in many.pids() {
                check(
                    first_argument(pid) == FORK_SERVER_FLAG,
                    format!("{pid} not forked by its own helper"),
                )?;
            }
            check(few.submit(Pid).wait()? == few.pids()[0], "the job ran elsewhere")?;
            drop((first, few, many));
            let again = ProcessPool::<Pid>::builder().workers(1).build()?;
            check(is_early_forked(again.pids()[0]), "the helper was not given back")
        }),
        Trial::test("a_pool_with_its_own_environment_executes_its_own", || {
            let pool = ProcessPool::<Pid>::builder().workers(1).env("PROCPOOL_EARLY_TEST", "1").build()?;
            check(
                first_argument(pool.pids()[0]) == WORKER_FLAG,
                "a worker with an environment of its own was forked",
            )
        }),
        Trial::test("a_process_forked_after_the_start_gets_workers_of_its_own", || {
            // SAFETY: the child only builds a pool, reads /proc and _exits.
            let child = unsafe { libc::fork() };
            if child == 0 {
                let code = match in_forked_child() {
                    Ok(()) => 0,
                    Err(why) => {
                        eprintln!("in the forked child: {why:?}");
                        1
                    }
                };
                // SAFETY: ends the child at once, without the test harness's exit.
                unsafe { libc::_exit(code) };
            }
            let mut status = 0;
            // SAFETY: waits for our own child; writes one int.
            unsafe { libc::waitpid(child, &mut status, 0) };
            check(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "the forked child's pool failed",
            )?;
            std::thread::sleep(std::time::Duration::from_millis(200));
            let strays: Vec<_> = children_named(std::process::id())
                .into_iter()
                .filter(|(_, _, name)| name != FORK_SERVER_NAME)
                .collect();
            check(strays.is_empty(), format!("the child's workers were ours: {strays:?}"))
        }),
        Trial::test("workers_write_where_the_programs_stdout_is_now", || {
            use std::io::{Read, Seek, Write};
            let mut log = tempfile::tempfile()?;
            let saved = nix::unistd::dup(std::io::stdout())?;
            std::io::stdout().flush()?;
            // SAFETY: points fd 1 at our own file; restored below.
            unsafe { libc::dup2(log.as_raw_fd(), 1) };
            let ran = ProcessPool::<Say>::builder().workers(1).build().map(|pool| pool.submit(Say).wait());
            // SAFETY: as above, back to the saved stdout.
            unsafe { libc::dup2(saved.as_raw_fd(), 1) };
            ran??;
            let mut said = String::new();
            log.rewind()?;
            log.read_to_string(&mut said)?;
            check(
                said.contains("said by a worker"),
                "the worker wrote to the stdout the program had at the start",
            )
        }),
        Trial::test("once_killed_it_is_forgotten_and_a_restart_is_refused_while_threads_run", move || {
            let helper = helper.ok_or("no fork server")?;
            // SAFETY: as above; `helper` is our child.
            unsafe { libc::kill(helper as i32, libc::SIGKILL) };
            wait_for_zombie(helper)?;
            let pool = ProcessPool::<Pid>::builder().workers(1).build()?;
            check(first_argument(pool.pids()[0]) == WORKER_FLAG, "a worker came from a dead helper")?;
            drop(pool);
            let (stop, parked) = std::sync::mpsc::channel::<()>();
            let thread = std::thread::spawn(move || parked.recv());
            let refused = start_again();
            drop(stop);
            let _ = thread.join();
            check(matches!(refused, Err(PoolError::Threaded { threads: 2.. })), format!("{refused:?}"))
        }),
        Trial::test("no_process_is_left_behind_not_even_a_zombie", || {
            // Last: every pool is dropped and the helper was killed and reaped.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            loop {
                let left = children_named(std::process::id());
                if left.is_empty() {
                    return Ok(());
                }
                check(std::time::Instant::now() < deadline, format!("left behind: {left:?}"))?;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }),
    ];
    libtest_mimic::run(&arguments, tests).exit();
}

/// Waits until our child `pid` is dead (a zombie, not reaped yet).
fn wait_for_zombie(pid: u32) -> Result<(), Failed> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while children_named(std::process::id()).iter().any(|&(p, state, _)| p == pid && state != 'Z') {
        check(std::time::Instant::now() < deadline, format!("{pid} survived SIGKILL"))?;
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(())
}

/// Builds a pool in a process forked after `start_fork_server`: each of its
/// workers must be this process's child.
fn in_forked_child() -> Result<(), Failed> {
    let pool = ProcessPool::<Parent>::builder().workers(2).build()?;
    let me = std::process::id();
    for _ in 0..2 {
        let parent = pool.submit(Parent).wait()?;
        check(parent == me, format!("a worker of this pool is a child of {parent}, not of {me}"))?;
    }
    Ok(())
}

fn start_again() -> Result<(), PoolError> {
    procpool::start_fork_server()
}

/// Our live fork server, if any.
fn helper() -> Option<u32> {
    children_named(std::process::id())
        .into_iter()
        .find(|(_, state, name)| *state != 'Z' && name == FORK_SERVER_NAME)
        .map(|(pid, _, _)| pid)
}

/// Our fork server once it has named itself (at most 5 s after it was forked).
fn named_helper() -> Option<u32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let found = helper();
        if found.is_some() || std::time::Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Forked by the early helper: a copy of this program, so it shows our arguments.
fn is_early_forked(pid: u32) -> bool {
    first_argument(pid) == first_argument(std::process::id())
}

/// What each of `pid`'s descriptors is open on.
fn descriptor_targets(pid: u32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|t| t.display().to_string())
        .collect()
}

fn target(pid: u32, fd: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).map(|t| t.display().to_string()).unwrap_or_default()
}

fn check(condition: bool, what: impl Into<String>) -> Result<(), Failed> {
    if condition {
        Ok(())
    } else {
        Err(what.into().into())
    }
}
