//! The codec's cost per job: encoding a full job batch and decoding a full
//! result batch, the two frames the supervisor handles for every batch.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use procpool_worker::protocol::{decode, encode, JobBatchRef, Outcome, ResultBatch};
use procpool_worker::Kernel;

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    for size in [1usize, 64, 8192] {
        let numbers: Vec<u64> = (0..size as u64).map(|i| 1_000_000_007 + 2 * i).collect();
        let outcomes: Vec<Outcome> = (0..size as u64)
            .map(|i| Outcome { prime: i % 3 == 0, started_ns: 0, elapsed_ns: 90 + i % 50, cpu_ns: 0 })
            .collect();
        let reply = encode(&ResultBatch::pack(0, &outcomes, 1.0)).unwrap();
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::new("encode_jobs", size), &numbers, |b, numbers| {
            b.iter(|| {
                encode(&JobBatchRef { first_index: 0, kernel: Kernel::Fast, numbers: black_box(numbers) })
            })
        });
        group.bench_with_input(BenchmarkId::new("decode_results", size), &reply, |b, reply| {
            b.iter(|| decode::<ResultBatch>(black_box(reply)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
