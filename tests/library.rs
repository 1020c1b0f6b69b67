//! The ProcessPool library type, used as any user would use it.

mod common;

use std::time::Duration;

use common::{children, children_named};
use procpool::pool::{Completed, PoolError, ProcessPool};
use procpool::Kernel;
use procpool_worker::primes::reference::sieve;

fn builder() -> procpool::pool::ProcessPoolBuilder {
    ProcessPool::builder().program(env!("CARGO_BIN_EXE_procpool"))
}

/// Tests in this file share one process: count only children from `pids`.
fn still_children(pids: &[u32]) -> Vec<u32> {
    children(std::process::id()).into_iter().map(|(pid, _)| pid).filter(|pid| pids.contains(pid)).collect()
}

fn checked(item: Result<Completed, PoolError>) -> (u64, u64, bool) {
    match item.unwrap() {
        Completed::Checked(r) => (r.index, r.n, r.prime),
        Completed::Failed(f) => panic!("job failed: {f:?}"),
    }
}

#[test]
fn ordered_map_unordered_map_and_shutdown() {
    let primes = sieve(50_000);
    let mut pool = builder().workers(3).kernel(Kernel::Fast).build().unwrap();
    assert_eq!(pool.pids().len(), 3);
    assert!(pool.pids().iter().all(|&pid| pid != std::process::id()));

    let ordered: Vec<_> = pool.map(1..50_000u64).map(checked).collect();
    let expected: Vec<_> =
        (1..50_000u64).enumerate().map(|(i, n)| (i as u64, n, primes[n as usize])).collect();
    assert_eq!(ordered, expected);

    // The same pool again, now in completion order: same set of results.
    let mut unordered: Vec<_> = pool.map_unordered(1..50_000u64).map(checked).collect();
    unordered.sort();
    assert_eq!(unordered, expected);

    let pids = pool.pids();
    pool.shutdown();
    assert_eq!(still_children(&pids), Vec::<u32>::new());
}

#[test]
fn a_small_window_still_delivers_everything_in_order() {
    let mut pool = builder().workers(2).window(3).build().unwrap();
    let got: Vec<_> = pool.map((0..2000u64).rev()).map(checked).collect();
    assert_eq!(got.len(), 2000);
    assert!(got.iter().enumerate().all(|(i, &(index, n, _))| index == i as u64 && n == 1999 - i as u64));
    drop(pool);
}

#[test]
fn dropping_a_pool_mid_run_kills_and_reaps_its_workers() {
    let mut pool = builder().workers(2).kernel(Kernel::Book).build().unwrap();
    let pids = pool.pids();
    {
        let mut results = pool.map(std::iter::repeat_n(9_999_999_999_999_917u64, 100));
        assert!(results.next().is_some());
    } // the run is abandoned with work in flight: those workers are killed
    drop(pool);
    assert_eq!(still_children(&pids), Vec::<u32>::new(), "not reaped");
}

#[test]
fn a_program_that_is_not_a_worker_fails_the_build_instead_of_hanging() {
    let error = ProcessPool::builder()
        .program("/bin/true")
        .workers(2)
        .handshake_timeout(Duration::from_secs(30))
        .build()
        .err()
        .expect("build must fail");
    assert!(matches!(error, PoolError::DiedAtStartup { .. }), "{error}");
    assert!(error.to_string().contains("exited with code 0 before completing the handshake"), "{error}");
    let left: Vec<_> =
        children_named(std::process::id()).into_iter().filter(|(_, _, name)| name == "true").collect();
    assert!(left.is_empty(), "workers that failed the handshake must be reaped: {left:?}");
}

#[test]
fn a_missing_program_is_a_spawn_error() {
    let error = ProcessPool::builder().program("/no/such/binary").build().err().expect("build must fail");
    assert!(error.to_string().contains("/no/such/binary"), "{error}");
}

#[test]
fn tail_duplicates_deliver_every_job_exactly_once() {
    // Few ~1 ms jobs on more workers than jobs per worker: idle workers take
    // copies of queued ones at the tail, and only one copy may be delivered.
    let mut pool = builder().workers(4).kernel(Kernel::Fast).build().unwrap();
    for _ in 0..5 {
        let mut indices: Vec<u64> = pool
            .map_unordered(std::iter::repeat_n(9_999_999_999_999_917u64, 7))
            .map(|r| checked(r).0)
            .collect();
        indices.sort();
        assert_eq!(indices, (0..7).collect::<Vec<_>>());
        let ordered: Vec<_> =
            pool.map(std::iter::repeat_n(9_999_999_999_999_917u64, 7)).map(checked).collect();
        assert!(ordered.iter().enumerate().all(|(i, &(index, _, prime))| index == i as u64 && prime));
    }
    let pids = pool.pids();
    pool.shutdown();
    assert_eq!(still_children(&pids), Vec::<u32>::new());
}
