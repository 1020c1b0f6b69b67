//! The prime kernels side by side on the fixture: the book's trial division
//! and the fast one, each checking the 20 numbers in order on one thread.
//!
//! `cargo bench --bench kernels`. The book needs about 0.7 s per pass, so the
//! group takes 10 flat samples of one pass each.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};
use procpool_worker::Kernel;

/// Primes, squares of primes and numbers with small factors, up to 10^16.
const FIXTURE: [u64; 20] = [
    2,
    142702110479723,
    299593572317531,
    3333333333333301,
    3333333333333333,
    3333335652092209,
    4444444444444423,
    4444444444444444,
    4444444488888889,
    5555553133149889,
    5555555555555503,
    5555555555555555,
    6666666666666666,
    6666666666666719,
    6666667141414921,
    7777777536340681,
    7777777777777753,
    7777777777777777,
    9999999999999917,
    9999999999999999,
];

/// Checks the fixture in order; returns how many are prime.
fn run(kernel: Kernel, numbers: &[u64]) -> usize {
    numbers.iter().filter(|&&n| kernel.is_prime(black_box(n))).count()
}

fn kernels(c: &mut Criterion) {
    // Both kernels must agree before their times mean anything.
    let verdicts = |kernel: Kernel| FIXTURE.map(|n| kernel.is_prime(n));
    assert_eq!(verdicts(Kernel::Book), verdicts(Kernel::Fast), "kernels disagree on the fixture");

    let mut group = c.benchmark_group("fixture");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(FIXTURE.len() as u64));
    for kernel in Kernel::ALL {
        group.bench_with_input(BenchmarkId::from_parameter(kernel), &FIXTURE, |b, numbers| {
            b.iter(|| run(kernel, numbers))
        });
    }
    group.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
