//! The pool as a library user sees it: job types of our own, on real worker
//! processes. This binary has its own `main` (libtest-mimic runs the tests)
//! because the pool starts workers by re-executing it: `worker_entry` must
//! come first.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{children, children_named, first_argument, FORK_SERVER_NAME};
use libtest_mimic::{Arguments, Failed, Trial};
use procpool::{DeathCause, Job, JobError, ProcessPool, ProcessPoolBuilder, WorkerOutput};
use serde::{Deserialize, Serialize};

type Test = fn() -> Result<(), Failed>;

/// Set to a directory: this binary then plays a program whose `main` forgot
/// `worker_entry`, and each process it becomes leaves its pid there.
const FORGETFUL: &str = "LIBRARY_TEST_FORGETS_WORKER_ENTRY";

fn main() {
    if let Some(dir) = std::env::var_os(FORGETFUL) {
        forgetful_main(dir.as_ref());
    }
    procpool::worker_entry();
    let tests: Vec<(&str, Test)> = vec![
        ("a_user_defined_job_runs_in_order_unordered_and_alone", user_job),
        ("a_panic_an_abort_and_a_hang_each_fail_only_their_job", panic_abort_hang),
        ("two_job_types_run_in_one_binary_at_once", two_job_types),
        ("several_threads_map_over_one_pool", several_threads),
        ("the_initializer_runs_in_each_worker_and_workers_are_recycled", initializer_and_recycling),
        ("a_repeatable_job_is_retried_after_its_worker_dies", repeatable_retry),
        ("a_stream_is_fed_from_another_thread", fed_stream),
        ("dropping_a_map_midway_replaces_its_busy_workers", dropped_map),
        ("environment_and_directory_reach_the_workers", environment),
        ("large_jobs_are_batched_under_the_frame_limit", large_jobs),
        ("a_pool_of_any_job_type_forks_its_workers_from_its_own_fork_server", fork_server_per_pool),
        ("chunks_hand_over_every_result_once_in_order", chunks),
        ("map_unordered_goes_on_past_its_window", unordered_past_the_window),
        ("each_death_is_charged_to_the_job_that_caused_it", blame_after_each_reply),
        ("a_submitted_job_starts_before_it_is_waited_on", submit_starts_at_once),
        ("a_job_or_output_that_cannot_travel_fails_alone", cannot_travel),
        ("a_slow_input_streams_each_job_as_it_comes", slow_input_streams),
        ("a_bad_worker_count_or_directory_is_refused_by_name", bad_settings),
        ("results_held_behind_a_slow_job_stay_within_the_byte_window", byte_window),
        ("large_jobs_with_large_outputs_never_deadlock", large_both_ways),
        ("a_program_that_forgets_worker_entry_is_told_instead_of_recursing", forgets_worker_entry),
    ];
    let trials = tests.into_iter().map(|(name, test)| Trial::test(name, test)).collect();
    libtest_mimic::run(&Arguments::from_args(), trials).exit();
}

#[derive(Debug, Serialize, Deserialize)]
struct Square(u64);

impl Job for Square {
    type Output = u64;
    fn run(self) -> u64 {
        self.0 * self.0
    }
}

/// Fails unless none of `pids` is still our child (zombies count).
fn none_left(pids: &HashSet<u32>) -> Result<(), Failed> {
    let left: Vec<u32> =
        children(std::process::id()).into_iter().map(|(p, _)| p).filter(|p| pids.contains(p)).collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("workers left behind: {left:?}").into())
    }
}

fn check(condition: bool, what: impl Into<String>) -> Result<(), Failed> {
    if condition {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

fn quiet<J: Job>(builder: ProcessPoolBuilder<J>) -> ProcessPoolBuilder<J> {
    builder.worker_stderr(WorkerOutput::Null)
}

fn user_job() -> Result<(), Failed> {
    let pool = ProcessPool::<Square>::builder().workers(3).build()?;
    let pids: HashSet<u32> = pool.pids().into_iter().collect();
    check(pids.len() == 3 && !pids.contains(&std::process::id()), format!("{pids:?}"))?;
    let squares: Vec<u64> = pool.map((0..5000).map(Square)).collect::<Result<_, _>>()?;
    check(squares == (0..5000u64).map(|i| i * i).collect::<Vec<_>>(), "ordered squares")?;
    let mut unordered: Vec<(u64, u64)> =
        pool.map_unordered((0..5000).map(Square)).map(|(i, r)| (i, r.unwrap())).collect();
    unordered.sort_unstable();
    check(unordered == (0..5000u64).map(|i| (i, i * i)).collect::<Vec<_>>(), "unordered squares")?;
    check(pool.submit(Square(7)).wait()? == 49, "submit")?;
    pool.shutdown();
    none_left(&pids)
}

/// A job that behaves as told, in its worker.
#[derive(Debug, Serialize, Deserialize)]
enum Behave {
    Return(u64),
    Panic,
    Abort,
    Hang,
}

impl Job for Behave {
    type Output = u64;
    fn run(self) -> u64 {
        match self {
            Behave::Return(n) => n,
            Behave::Panic => panic!("told to panic"),
            Behave::Abort => std::process::abort(),
            Behave::Hang => loop {
                std::thread::sleep(Duration::from_secs(1));
            },
        }
    }
}

fn panic_abort_hang() -> Result<(), Failed> {
    // Under RUST_BACKTRACE=1 the panic hook symbolises a backtrace, which
    // can take longer than the hang's timeout when the cores are shared.
    let pool = quiet(ProcessPool::<Behave>::builder())
        .workers(2)
        .env("RUST_BACKTRACE", "0")
        .job_timeout(Some(Duration::from_millis(1500)))
        .build()?;
    let jobs = vec![
        Behave::Return(1),
        Behave::Panic,
        Behave::Return(2),
        Behave::Abort,
        Behave::Hang,
        Behave::Return(3),
    ];
    let mut seen = HashSet::new();
    let results: Vec<_> = pool
        .map(jobs)
        .with_details()
        .inspect(|f| {
            seen.insert(f.pid);
        })
        .map(|f| f.result)
        .collect();
    check(results.len() == 6, format!("{results:?}"))?;
    check(results[0] == Ok(1) && results[2] == Ok(2) && results[5] == Ok(3), format!("{results:?}"))?;
    check(
        results[1] == Err(JobError::Panicked { message: "told to panic".into() }),
        format!("{:?}", results[1]),
    )?;
    match &results[3] {
        Err(JobError::WorkerDied { deaths }) => {
            check(deaths.len() == 1 && deaths[0].cause == DeathCause::Signaled(6), format!("{deaths:?}"))?
        }
        other => return Err(format!("abort gave {other:?}").into()),
    }
    match &results[4] {
        Err(JobError::TimedOut { deaths }) => check(deaths.len() == 1, format!("{deaths:?}"))?,
        other => return Err(format!("hang gave {other:?}").into()),
    }
    // The panic did not kill its worker; the abort and the hang cost one each.
    check(pool.submit(Behave::Return(9)).wait()? == 9, "the pool still works")?;
    seen.extend(pool.pids());
    drop(pool);
    none_left(&seen)
}

#[derive(Debug, Serialize, Deserialize)]
struct Shout(String);

impl Job for Shout {
    type Output = String;
    fn run(self) -> String {
        self.0.to_uppercase()
    }
}

fn two_job_types() -> Result<(), Failed> {
    let squares = ProcessPool::<Square>::builder().workers(1).build()?;
    let shouts = ProcessPool::<Shout>::builder().workers(1).build()?;
    let mut a = squares.map((0..100).map(Square));
    let mut b = shouts.map(["a", "bc", "déf"].map(|s| Shout(s.into())));
    check(b.next().unwrap()? == "A" && a.next().unwrap()? == 0, "interleaved")?;
    check(b.collect::<Result<Vec<_>, _>>()? == ["BC", "DÉF"], "shouts")?;
    check(a.map(Result::unwrap).sum::<u64>() == (0..100u64).map(|i| i * i).sum::<u64>(), "squares")?;
    let pids: HashSet<u32> = squares.pids().into_iter().chain(shouts.pids()).collect();
    drop((squares, shouts));
    none_left(&pids)
}

fn several_threads() -> Result<(), Failed> {
    let pool = ProcessPool::<Square>::builder().workers(2).build()?;
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..4u64)
            .map(|t| {
                let pool = &pool;
                scope.spawn(move || {
                    let range = t * 10_000..t * 10_000 + 3000;
                    let got: Vec<u64> = pool.map(range.clone().map(Square)).map(Result::unwrap).collect();
                    got == range.map(|i| i * i).collect::<Vec<_>>()
                })
            })
            .collect();
        runs.into_iter().all(|run| run.join().unwrap())
    })
    .then_some(())
    .ok_or("a thread got someone else's results or the wrong order")?;
    let pids: HashSet<u32> = pool.pids().into_iter().collect();
    drop(pool);
    none_left(&pids)
}

static INITIALIZED: AtomicU64 = AtomicU64::new(0);
static RUN_HERE: AtomicU64 = AtomicU64::new(0);

fn initialize() {
    INITIALIZED.store(42, Ordering::SeqCst);
}

/// Reports, from inside its worker: the pid, whether the initializer ran,
/// and how many jobs this worker has run.
#[derive(Debug, Serialize, Deserialize)]
struct WhoAmI;

impl Job for WhoAmI {
    type Output = (u32, u64, u64);
    fn run(self) -> (u32, u64, u64) {
        let count = RUN_HERE.fetch_add(1, Ordering::SeqCst) + 1;
        (std::process::id(), INITIALIZED.load(Ordering::SeqCst), count)
    }
}

fn initializer_and_recycling() -> Result<(), Failed> {
    let pool =
        ProcessPool::<WhoAmI>::builder().workers(2).initializer(initialize).max_jobs_per_worker(3).build()?;
    let seen: Vec<(u32, u64, u64)> = pool.map((0..20).map(|_| WhoAmI)).collect::<Result<_, _>>()?;
    check(seen.iter().all(|&(_, init, _)| init == 42), format!("initializer not run everywhere: {seen:?}"))?;
    let mut per_worker: HashMap<u32, u64> = HashMap::new();
    for &(pid, _, count) in &seen {
        let jobs = per_worker.entry(pid).or_default();
        *jobs += 1;
        check(count == *jobs && count <= 3, format!("worker {pid} ran more than 3 jobs: {seen:?}"))?;
    }
    check(per_worker.len() >= 7, format!("20 jobs at 3 a worker need 7 workers: {per_worker:?}"))?;
    let pids: HashSet<u32> = per_worker.keys().copied().chain(pool.pids()).collect();
    drop(pool);
    none_left(&pids)
}

/// Kills its worker the first time it runs (a marker file remembers), then succeeds.
#[derive(Debug, Serialize, Deserialize)]
struct DiesOnce(std::path::PathBuf);

impl Job for DiesOnce {
    type Output = bool;
    fn run(self) -> bool {
        if std::fs::create_dir(&self.0).is_ok() {
            std::process::abort();
        }
        true
    }
}

fn repeatable_retry() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let marker = dir.path().join("ran");
    // Not declared repeatable: the death costs the job, no retry.
    let once = quiet(ProcessPool::<DiesOnce>::builder()).workers(1).build()?;
    let outcome = once.submit(DiesOnce(marker.clone())).wait();
    check(matches!(outcome, Err(JobError::WorkerDied { .. })), format!("{outcome:?}"))?;
    std::fs::remove_dir(&marker)?;
    let pool = quiet(ProcessPool::<DiesOnce>::builder()).workers(1).repeatable(true).build()?;
    let mut map = pool.map([DiesOnce(marker)]);
    check(map.next().transpose()? == Some(true), "retried and succeeded")?;
    check(map.next().is_none(), "one job")?;
    check(map.retries() == 1, format!("{} retries", map.retries()))
}

fn fed_stream() -> Result<(), Failed> {
    let pool = ProcessPool::<Square>::builder().workers(2).window(16).build()?;
    let (mut feeder, results) = pool.stream();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for i in 0..1000 {
                feeder.push(Square(i)).unwrap();
            }
        });
        let got: Vec<u64> = results.map(Result::unwrap).collect();
        check(got == (0..1000u64).map(|i| i * i).collect::<Vec<_>>(), "fed in order")
    })
}

/// Sleeps, so a map can be dropped while workers are busy.
#[derive(Debug, Serialize, Deserialize)]
struct Nap(u64);

impl Job for Nap {
    type Output = u64;
    fn run(self) -> u64 {
        std::thread::sleep(Duration::from_millis(self.0));
        self.0
    }
}

fn dropped_map() -> Result<(), Failed> {
    let pool = ProcessPool::<Nap>::builder().workers(2).build()?;
    let before: HashSet<u32> = pool.pids().into_iter().collect();
    let mut map = pool.map((0..100).map(|_| Nap(200)));
    check(map.next().transpose()? == Some(200), "first nap")?;
    drop(map);
    // The next map gets fresh (or idle) workers and does not wait for the abandoned naps.
    check(pool.map([Nap(1), Nap(2)]).collect::<Result<Vec<_>, _>>()? == [1, 2], "next map")?;
    let all: HashSet<u32> = before.iter().copied().chain(pool.pids()).collect();
    drop(pool);
    none_left(&all)
}

#[derive(Debug, Serialize, Deserialize)]
struct Where;

impl Job for Where {
    type Output = (Option<String>, std::path::PathBuf);
    fn run(self) -> Self::Output {
        (std::env::var("PROCPOOL_LIBRARY_TEST").ok(), std::env::current_dir().unwrap())
    }
}

fn environment() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let pool = ProcessPool::<Where>::builder()
        .workers(1)
        .env("PROCPOOL_LIBRARY_TEST", "yes")
        .current_dir(dir.path())
        .build()?;
    let (var, cwd) = pool.submit(Where).wait()?;
    check(var.as_deref() == Some("yes"), format!("{var:?}"))?;
    check(cwd == dir.path().canonicalize()?, format!("{cwd:?}"))
}

/// Carries its payload there and back: 100 MB of cheap jobs in all, so that
/// batches sized by run time alone would pass the 16 MiB frame limit.
#[derive(Debug, Serialize, Deserialize)]
struct Echo(#[serde(with = "serde_bytes")] Vec<u8>);

impl Job for Echo {
    type Output = usize;
    fn run(self) -> usize {
        self.0.len()
    }
}

fn large_jobs() -> Result<(), Failed> {
    let pool = ProcessPool::<Echo>::builder().workers(2).repeatable(true).build()?;
    let sizes: Vec<usize> = pool.map((0..500).map(|_| Echo(vec![7; 200_000]))).collect::<Result<_, _>>()?;
    check(sizes.len() == 500 && sizes.iter().all(|&n| n == 200_000), "every large job ran")
}

/// Builds a pool of `J` with more workers than cores (so they are forked
/// from the start), marked by an environment variable, checks
/// that its workers were forked by one fork server of its own, which is not
/// among its workers, runs `job`, and checks that dropping the pool leaves
/// neither workers nor fork server.
fn forked_pool<J: Job>(marker: &str, job: J) -> Result<Result<J::Output, JobError>, Failed> {
    let workers = procpool::available_cores() + 1;
    let pool = ProcessPool::<J>::builder().workers(workers).env("PROCPOOL_LIBRARY_POOL", marker).build()?;
    let needle = format!("PROCPOOL_LIBRARY_POOL={marker}");
    let marked = |pid: u32| {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        environ.split(|&b| b == 0).any(|var| var == needle.as_bytes())
    };
    let helpers: Vec<u32> = children_named(std::process::id())
        .into_iter()
        .filter(|(pid, _, name)| name == FORK_SERVER_NAME && marked(*pid))
        .map(|(pid, _, _)| pid)
        .collect();
    check(helpers.len() == 1, format!("fork servers of this pool: {helpers:?}"))?;
    let workers = pool.pids();
    check(!workers.contains(&helpers[0]), "the fork server is listed as a worker")?;
    for &worker in &workers {
        let argument = first_argument(worker);
        check(argument == procpool_worker::fork_server::FORK_SERVER_FLAG, format!("{worker}: {argument}"))?;
    }
    let output = pool.submit(job).wait();
    drop(pool);
    none_left(&workers.into_iter().chain(helpers).collect())?;
    Ok(output)
}

fn fork_server_per_pool() -> Result<(), Failed> {
    let marker = format!("{}", std::process::id());
    check(forked_pool(&format!("square-{marker}"), Square(9))? == Ok(81), "Square")?;
    let size = forked_pool(&format!("echo-{marker}"), Echo(vec![1; 10]))?;
    check(size == Ok(10), "Echo")?;
    // A forked worker is a raw clone of the fork server: libc's abort must
    // still kill it by SIGABRT (glibc signals itself by the kernel's tid).
    match forked_pool(&format!("abort-{marker}"), Behave::Abort)? {
        Err(JobError::WorkerDied { deaths }) => {
            check(deaths.len() == 1 && deaths[0].cause == DeathCause::Signaled(6), format!("{deaths:?}"))
        }
        other => Err(format!("an abort gave {other:?}").into()),
    }
}

/// `next_chunk` hands over whole replies: mixed with `next`, every job comes
/// out once, in order, panics included, and tiny jobs come many to a chunk.
fn chunks() -> Result<(), Failed> {
    let pool = quiet(ProcessPool::<Behave>::builder())
        .workers(2)
        .repeatable(true)
        .env("RUST_BACKTRACE", "0")
        .build()?;
    const JOBS: u64 = 100_000;
    let jobs = (0..JOBS).map(|i| if i % 30_000 == 29_999 { Behave::Panic } else { Behave::Return(i) });
    let mut results = pool.map(jobs).with_details();
    let (mut next, mut largest, mut chunks, mut taken_apart) = (0u64, 0usize, 0u64, 0u64);
    let mut expect = |finished: procpool::Finished<u64>| -> Result<(), Failed> {
        check(finished.index == next, format!("index {} where {next} was due", finished.index))?;
        let wanted = if next % 30_000 == 29_999 {
            Err(JobError::Panicked { message: "told to panic".into() })
        } else {
            Ok(next)
        };
        check(finished.result == wanted, format!("job {next}: {:?}", finished.result))?;
        next += 1;
        Ok(())
    };
    loop {
        if chunks % 3 == 2 {
            // Now and then one result the ordinary way, between chunks.
            match results.next() {
                Some(finished) => expect(finished)?,
                None => break,
            }
        }
        let Some(chunk) = results.next_chunk() else { break };
        chunks += 1;
        let len = chunk.len();
        largest = largest.max(len);
        let mut yielded = 0;
        // Every other chunk taken apart instead: the same jobs, in the same order.
        let chunk = if chunks % 2 == 0 { chunk.into_outcomes() } else { Err(chunk) };
        match chunk {
            Ok((first, pid, outcomes)) => {
                for (index, timed) in (first..).zip(outcomes) {
                    let result = timed.output.map_err(|failed| match failed {
                        procpool_worker::protocol::Failed::Panicked(message) => {
                            JobError::Panicked { message }
                        }
                        other => JobError::CannotReturn { reason: format!("{other:?}") },
                    });
                    let started_at = Duration::from_nanos(timed.started_ns);
                    let (elapsed, cpu) =
                        (Duration::from_nanos(timed.elapsed_ns), Duration::from_nanos(timed.cpu_ns));
                    expect(procpool::Finished { index, pid, started_at, elapsed, cpu, result })?;
                    yielded += 1;
                }
                taken_apart += 1;
            }
            Err(chunk) => {
                for finished in chunk {
                    expect(finished)?;
                    yielded += 1;
                }
            }
        }
        check(yielded == len, format!("a chunk of {len} yielded {yielded}"))?;
    }
    drop(results);
    check(next == JOBS, format!("{next} of {JOBS} results"))?;
    check(largest > 1, "tiny jobs come many to a chunk")?;
    check(taken_apart > 0, "no chunk of jobs that ran was taken apart")?;
    let pids: HashSet<u32> = pool.pids().into_iter().collect();
    drop(pool);
    none_left(&pids)
}

/// Unordered, the window was never given back (it hung once `window` results were out).
fn unordered_past_the_window() -> Result<(), Failed> {
    let pool = ProcessPool::<Square>::builder().workers(2).window(4).build()?;
    let pids: HashSet<u32> = pool.pids().into_iter().collect();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut got: Vec<(u64, u64)> =
                pool.map_unordered((0..1000).map(Square)).map(|(i, r)| (i, r.unwrap_or(0))).collect();
            got.sort_unstable();
            let _ = done_tx.send(got);
        });
        let got = done_rx.recv_timeout(Duration::from_secs(60));
        if got.is_err() {
            pool.shutdown(); // ends the hung map, so the scope can end
        }
        check(
            got.ok() == Some((0..1000u64).map(|i| (i, i * i)).collect()),
            "1000 unordered results past a window of 4",
        )
    })?;
    pool.shutdown();
    none_left(&pids)
}

/// Jobs that abort, each after one that returns, on one worker. A death the
/// dispatcher first saw as a failed send was once judged before the
/// dying worker's last reply was read, and blamed the job that returned.
fn blame_after_each_reply() -> Result<(), Failed> {
    let pool = quiet(ProcessPool::<Behave>::builder()).workers(1).build()?;
    let mut seen: HashSet<u32> = pool.pids().into_iter().collect();
    let jobs = (0..2000u64).map(|i| if i % 2 == 1 { Behave::Abort } else { Behave::Return(i) });
    for (i, outcome) in pool.map(jobs).with_details().enumerate() {
        seen.insert(outcome.pid);
        let right = match &outcome.result {
            Ok(n) => i % 2 == 0 && *n == i as u64,
            Err(JobError::WorkerDied { deaths }) => i % 2 == 1 && deaths.len() == 1,
            Err(_) => false,
        };
        check(right, format!("job {i}: {:?}", outcome.result))?;
    }
    seen.extend(pool.pids());
    drop(pool);
    none_left(&seen)
}

/// Creates a file, to show from outside that it ran.
#[derive(Debug, Serialize, Deserialize)]
struct Touch(std::path::PathBuf);

impl Job for Touch {
    type Output = ();
    fn run(self) {
        std::fs::write(&self.0, b"ran").expect("marker file");
    }
}

/// A submitted job once waited for its `wait` to be sent at all, so
/// handles waited one by one ran one at a time.
fn submit_starts_at_once() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let marker = dir.path().join("ran");
    let touch = ProcessPool::<Touch>::builder().workers(1).build()?;
    let mut seen: HashSet<u32> = touch.pids().into_iter().collect();
    let handle = touch.submit(Touch(marker.clone()));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !marker.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    check(marker.exists(), "the job did not run before wait")?;
    handle.wait()?;
    // Many handles at once, waited for in reverse.
    let pool = ProcessPool::<Square>::builder().workers(2).build()?;
    seen.extend(pool.pids());
    let handles: Vec<_> = (0..20_000u64).map(|i| (i, pool.submit(Square(i)))).collect();
    for (i, handle) in handles.into_iter().rev() {
        check(handle.wait()? == i * i, format!("job {i}"))?;
    }
    seen.extend(pool.pids());
    drop((touch, pool));
    none_left(&seen)
}

/// What a [`Payload`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Returns {
    Small,
    /// An output whose `Serialize` fails.
    Refusing,
    /// An output larger than a frame.
    Huge,
}

/// A job that may refuse to be encoded, or be too large to send, or
/// return an output that cannot travel back.
#[derive(Debug, Deserialize)]
struct Payload {
    refuse: bool,
    #[serde(with = "serde_bytes")]
    bytes: Vec<u8>,
    returns: Returns,
}

impl Payload {
    fn new(returns: Returns) -> Payload {
        Payload { refuse: false, bytes: Vec::new(), returns }
    }
}

impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeStruct};
        if self.refuse {
            return Err(S::Error::custom("this job refuses to be encoded"));
        }
        let mut fields = s.serialize_struct("Payload", 3)?;
        fields.serialize_field("refuse", &self.refuse)?;
        fields.serialize_field("bytes", serde_bytes::Bytes::new(&self.bytes))?;
        fields.serialize_field("returns", &self.returns)?;
        fields.end()
    }
}

/// `None` refuses to be encoded.
#[derive(Debug, PartialEq)]
struct Answer(Option<Vec<u8>>);

impl Serialize for Answer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(bytes) => s.serialize_bytes(bytes),
            None => Err(serde::ser::Error::custom("this output refuses to be encoded")),
        }
    }
}

impl<'de> Deserialize<'de> for Answer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_bytes::ByteBuf::deserialize(d).map(|bytes| Answer(Some(bytes.into_vec())))
    }
}

impl Job for Payload {
    type Output = Answer;
    fn run(self) -> Answer {
        match self.returns {
            Returns::Small => Answer(Some(vec![1])),
            Returns::Refusing => Answer(None),
            Returns::Huge => Answer(Some(vec![0; 17 << 20])),
        }
    }
}

/// Each job or output that cannot be encoded, or is too large, fails at its
/// own index; the others, and the worker, go on. Once, one such job failed
/// its whole map at index 0, and one such output killed its worker.
fn cannot_travel() -> Result<(), Failed> {
    let pool = ProcessPool::<Payload>::builder().workers(1).build()?;
    let mut seen: HashSet<u32> = pool.pids().into_iter().collect();
    let jobs = || {
        vec![
            Payload::new(Returns::Small),
            Payload { refuse: true, ..Payload::new(Returns::Small) },
            Payload::new(Returns::Refusing),
            Payload { bytes: vec![0; 9 << 20], ..Payload::new(Returns::Small) },
            Payload::new(Returns::Huge),
            Payload::new(Returns::Small),
        ]
    };
    let expect = |i: u64, result: &Result<Answer, JobError>| -> Result<(), Failed> {
        let right = match (i, result) {
            (0 | 5, Ok(answer)) => answer == &Answer(Some(vec![1])),
            (1, Err(JobError::CannotSend { reason })) => reason.contains("refuses to be encoded"),
            (3, Err(JobError::CannotSend { reason })) => reason.contains("bytes"),
            (2 | 4, Err(JobError::CannotReturn { .. })) => true,
            _ => false,
        };
        check(right, format!("job {i}: {result:?}"))
    };
    let mut pids = HashSet::new();
    let mut count = 0;
    for finished in pool.map(jobs()).with_details() {
        expect(finished.index, &finished.result)?;
        if finished.result.is_ok() || matches!(finished.result, Err(JobError::CannotReturn { .. })) {
            pids.insert(finished.pid);
        }
        count += 1;
    }
    check(count == 6, format!("{count} results"))?;
    check(pids.len() == 1, format!("the worker was replaced: {pids:?}"))?;
    let mut unordered: Vec<_> = pool.map_unordered(jobs()).collect();
    unordered.sort_by_key(|(i, _)| *i);
    check(unordered.len() == 6, format!("{} unordered results", unordered.len()))?;
    for (i, result) in &unordered {
        expect(*i, result)?;
    }
    let refused = pool.submit(Payload { refuse: true, ..Payload::new(Returns::Small) }).wait();
    expect(1, &refused)?;
    expect(5, &pool.submit(Payload::new(Returns::Small)).wait())?;
    seen.extend(pool.pids());
    drop(pool);
    none_left(&seen)
}

/// A slow input (30 ms a job) that then waits for the job before to have
/// run: it streams only if each job is sent as soon as it is pulled. Once,
/// `map` pulled up to 4096 jobs before it sent any.
fn slow_input_streams() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let marker = |i: u64| dir.path().join(format!("ran-{i}"));
    let pool = ProcessPool::<Touch>::builder().workers(1).build()?;
    let seen: HashSet<u32> = pool.pids().into_iter().collect();
    let mut stalled = Vec::new();
    let jobs = (0..5u64).map(|i| {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(30));
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            // Sleeps of 20 ms: each wait spans a kernel clock tick.
            while !marker(i - 1).exists() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if !marker(i - 1).exists() {
                stalled.push(i);
            }
        }
        Touch(marker(i))
    });
    let done = pool.map(jobs).filter(Result::is_ok).count();
    check(done == 5, format!("{done} of 5 jobs done"))?;
    check(stalled.is_empty(), format!("jobs pulled before the one before them was sent: {stalled:?}"))?;
    drop(pool);
    none_left(&seen)
}

/// Settings that cannot work are refused at `build`, each naming itself:
/// `workers(0)` once became 1, and a missing directory was reported as a
/// missing `/proc/self/exe`.
fn bad_settings() -> Result<(), Failed> {
    for workers in [0, procpool::MAX_WORKERS + 1] {
        let error = ProcessPool::<Square>::builder().workers(workers).build().map(|_| ()).unwrap_err();
        check(error.to_string().contains(&format!("not {workers}")), error.to_string())?;
    }
    let error = ProcessPool::<Square>::builder()
        .workers(1)
        .current_dir("/no/such/dir")
        .build()
        .map(|_| ())
        .unwrap_err();
    // Refused before any process starts (so none can be left).
    check(error.to_string().contains("/no/such/dir"), error.to_string())
}

/// `main` of a program that builds a pool without calling `worker_entry`
/// first: every process the pool starts runs it too. It stops by itself
/// after 20 processes, so a regression is a failed test, not a fork bomb.
fn forgetful_main(dir: &std::path::Path) -> ! {
    std::fs::write(dir.join(std::process::id().to_string()), b"").expect("pid marker");
    if std::fs::read_dir(dir).expect("marker directory").count() > 20 {
        std::process::exit(4);
    }
    match ProcessPool::<Square>::builder().workers(2).build() {
        Ok(pool) => {
            let _ = pool.submit(Square(3)).wait();
            std::process::exit(0)
        }
        Err(error) => {
            eprintln!("pool: {error}");
            std::process::exit(3)
        }
    }
}

/// A program whose `main` forgot `worker_entry` once made each worker build
/// a pool of its own, without end; now each refuses, naming the fix, and the
/// pool fails to start with a handful of processes, none left behind.
fn forgets_worker_entry() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let output = std::process::Command::new(std::env::current_exe()?)
        .env(FORGETFUL, dir.path())
        .stdin(std::process::Stdio::null())
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let pids: Vec<i32> = std::fs::read_dir(dir.path())?
        .map(|entry| entry.map(|e| e.file_name().to_string_lossy().parse().unwrap_or(0)))
        .collect::<Result<_, _>>()?;
    check(pids.len() <= 8, format!("{} processes started: {stderr}", pids.len()))?;
    check(output.status.code() == Some(3), format!("exit {:?}: {stderr}", output.status))?;
    check(
        stderr.contains("started as a procpool worker")
            && stderr.contains("call procpool::worker_entry() first"),
        format!("no hint at worker_entry: {stderr}"),
    )?;
    // They die with their parents; a loaded machine may take a while.
    let alive = || -> Vec<i32> {
        let gone = |pid: i32| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err();
        pids.iter().copied().filter(|&pid| !gone(pid)).collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !alive().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    check(alive().is_empty(), format!("processes left behind: {:?}", alive()))
}

/// Marks that it started, waits for a gate if it is job 0, and returns 1 MiB.
#[derive(Debug, Serialize, Deserialize)]
struct Blob {
    index: u64,
    dir: std::path::PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct Mebibyte(#[serde(with = "serde_bytes")] Vec<u8>);

impl Job for Blob {
    type Output = Mebibyte;
    fn run(self) -> Mebibyte {
        std::fs::write(self.dir.join(self.index.to_string()), b"").expect("marker");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.index == 0 && !self.dir.join("gate").exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        Mebibyte(vec![7; 1 << 20])
    }
}

/// Results behind a job still running are held back for the order; the
/// window counted jobs only, so 1000 outputs of 1 MiB piled up in memory.
fn byte_window() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let pool = ProcessPool::<Blob>::builder().workers(2).window_bytes(8 << 20).build()?;
    let seen: HashSet<u32> = pool.pids().into_iter().collect();
    let started = || std::fs::read_dir(dir.path()).map_or(0, |entries| entries.count());
    std::thread::scope(|scope| {
        let mapper = scope.spawn(|| {
            let jobs = (0..1000).map(|index| Blob { index, dir: dir.path().to_path_buf() });
            pool.map(jobs).filter(|r| r.as_ref().is_ok_and(|m| m.0.len() == 1 << 20)).count()
        });
        // Until the count of started jobs stops growing (a stop that comes
        // early only makes the bound below easier to meet).
        let mut last = 0;
        for _ in 0..60 {
            std::thread::sleep(Duration::from_millis(250));
            let now = started();
            if now == last && now > 1 {
                break;
            }
            last = now;
        }
        let held = started();
        std::fs::write(dir.path().join("gate"), b"")?;
        let done = mapper.join().map_err(|_| "the map panicked")?;
        check(done == 1000, format!("{done} of 1000 results"))?;
        // 8 MiB held, plus the batches in flight when the window filled.
        check(held < 100, format!("{held} jobs started behind the gate, with an 8 MiB byte window"))
    })?;
    drop(pool);
    none_left(&seen)
}

/// Returns its input doubled in size: large both ways.
#[derive(Debug, Serialize, Deserialize)]
struct Mirror(#[serde(with = "serde_bytes")] Vec<u8>);

impl Job for Mirror {
    type Output = Mebibyte;
    fn run(self) -> Mebibyte {
        Mebibyte([self.0.as_slice(), self.0.as_slice()].concat())
    }
}

/// A message larger than a socket buffer blocks its sender until it is
/// read. A batch of large jobs sent to a worker still busy with the one
/// before waited for it, while the worker waited to hand over its large
/// answer: both stopped for ever.
fn large_both_ways() -> Result<(), Failed> {
    let pool = ProcessPool::<Mirror>::builder().workers(1).build()?;
    let seen: HashSet<u32> = pool.pids().into_iter().collect();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let jobs = (0..200u8).map(|i| Mirror(vec![i; 300 << 10]));
            let right =
                pool.map(jobs).enumerate().all(|(i, r)| r.is_ok_and(|m| m.0 == vec![i as u8; 600 << 10]));
            let _ = done_tx.send(right);
        });
        let right = done_rx.recv_timeout(Duration::from_secs(60));
        if right.is_err() {
            // A deadlocked dispatcher cannot even be shut down.
            eprintln!("large_jobs_with_large_outputs_never_deadlock: no result in 60 s: deadlocked");
            std::process::exit(101);
        }
        check(right == Ok(true), format!("200 jobs of 300 KB each way: {right:?}"))
    })?;
    drop(pool);
    none_left(&seen)
}
