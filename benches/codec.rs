//! The codec's cost per job: building a job batch frame from stored job
//! encodings and decoding a full reply, the two frames the supervisor
//! handles for every batch.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use procpool_worker::protocol::{batch_frame, decode, encode, encode_job, JobOutcome, Reply};
use procpool_worker::timing::{Segment, Timed};
use procpool_worker::{Kernel, PrimeCheck};

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    for size in [1usize, 64, 8192] {
        let mut stored = Vec::new();
        for i in 0..size as u64 {
            encode_job(&PrimeCheck { n: 1_000_000_007 + 2 * i, kernel: Kernel::Fast }, &mut stored).unwrap();
        }
        let mut outcomes: Vec<Timed<JobOutcome<bool>>> = (0..size as u64)
            .map(|i| Timed { output: Ok(i % 3 == 0), started_ns: 0, elapsed_ns: 90 + i % 50, cpu_ns: 0 })
            .collect();
        let reply =
            encode(&Reply::pack(0, Segment { offset: 0, outcomes: outcomes.drain(..), cpu_share: 1.0 }))
                .unwrap();
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::new("batch_frame", size), &stored, |b, stored| {
            b.iter(|| batch_frame(0, size, |out| out.extend_from_slice(black_box(stored))))
        });
        group.bench_with_input(BenchmarkId::new("decode_reply", size), &reply, |b, reply| {
            b.iter(|| {
                let reply = decode::<Reply<bool>>(black_box(reply)).unwrap();
                let jobs = reply.jobs().unwrap();
                reply.unpack(jobs).count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
