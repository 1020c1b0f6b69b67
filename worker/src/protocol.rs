//! What the supervisor and a worker say to each other, and the one codec that
//! encodes it.
//!
//! The handshake ([`Hello`]) travels over ipc-channel's own typed channel
//! because it carries channel endpoints. Everything after it travels as
//! [`Frame`]s: bincode 2 bytes with a size limit, so a job batch or result
//! batch costs one copy and no per-element framing. The first frame to a
//! worker is its [`Setup`]; then job batches ([`JobBatch`]) go one way and
//! [`Reply`]s the other.

use ipc_channel::ipc::{IpcReceiver, IpcSender};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::packed;
use crate::timing::{Segment, Timed};

/// Bumped whenever a message type changes; checked at the handshake.
pub const PROTOCOL_VERSION: u32 = 4;

/// The largest frame either side will decode (16 MiB). Batches are far
/// smaller; anything bigger is a bug or an attack.
pub const MAX_FRAME_BYTES: usize = 16 << 20;

/// First argument that turns a binary into a worker; the second is the name
/// of the supervisor's one-shot server, the third its pid.
pub const WORKER_FLAG: &str = "--procpool-worker";

/// Bytes of the secret a worker reads from its stdin and returns in its
/// [`Hello`], proving it is the process the supervisor started.
pub const TOKEN_BYTES: usize = 16;

/// One message's bytes. ipc-channel carries them as a raw byte string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame(#[serde(with = "serde_bytes")] pub Vec<u8>);

/// A worker's first and only typed message: who it is, which protocol and
/// build it runs, the secret it was handed, and its two private channels.
#[derive(Debug, Serialize, Deserialize)]
pub struct Hello {
    /// Must equal [`PROTOCOL_VERSION`] or the supervisor rejects the worker.
    pub protocol: u32,
    /// The worker's process id, as the worker itself sees it.
    pub pid: u32,
    /// The worker's [`build_id`](crate::build_id::build_id).
    pub build_id: Vec<u8>,
    /// The secret read from stdin (see [`TOKEN_BYTES`]).
    pub token: Vec<u8>,
    /// Where the supervisor sends frames.
    pub jobs: IpcSender<Frame>,
    /// Where the supervisor receives frames.
    pub results: IpcReceiver<Frame>,
}

/// The supervisor's first frame: what the worker is to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup {
    /// The supervisor's build id; the worker refuses to go on if it differs.
    pub build_id: Vec<u8>,
    /// `std::any::type_name` of the job type, checked again after the jump.
    pub job_type: String,
    /// Offset of `serve_jobs::<J>` (see [`crate::entry`]).
    pub serve: i64,
    /// Offset of the user's initializer, if any.
    pub init: Option<i64>,
    /// Reply after every job (exact blame) instead of every ~20 ms.
    pub reply_every_job: bool,
}

/// Consecutive jobs `first_index..first_index + jobs.len()`.
///
/// The supervisor never builds one: it stores each job encoded on its own
/// and concatenates them with [`batch_frame`], which gives the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobBatch<J> {
    pub first_index: u64,
    pub jobs: Vec<J>,
}

/// Results for consecutive jobs from `first_index` on. A worker may answer
/// one batch with several of these (it replies to long batches early).
///
/// Packed for the millions-of-tiny-jobs case: one varint per job
/// (`elapsed_ns << 1 | failed`) in one byte string (see [`packed`]), then
/// the outputs of the jobs that returned and what became of those that
/// did not; the CPU share and the start time once per message, since the
/// jobs of a message ran back to back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply<O> {
    pub first_index: u64,
    /// CPU time / wall time of the worker thread over these jobs.
    pub cpu_share: f64,
    /// `CLOCK_MONOTONIC` nanoseconds when the first of these jobs started.
    pub started_ns: u64,
    /// The jobs' wall times added up, so the supervisor sizes batches
    /// without decoding `timings`.
    pub elapsed_ns: u64,
    #[serde(with = "serde_bytes")]
    pub timings: Vec<u8>,
    pub outputs: Vec<O>,
    pub failures: Vec<Failed>,
}

/// Why a job that ran has no output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Failed {
    /// It panicked, with this message.
    Panicked(String),
    /// Its output could not be sent back, for this reason.
    Unsendable(String),
}

/// What one job came to: its output, or why it has none.
pub type JobOutcome<O> = Result<O, Failed>;

impl<O> Reply<O> {
    /// Packs a segment of consecutive, back-to-back outcomes.
    pub fn pack(first_index: u64, segment: Segment<'_, JobOutcome<O>>) -> Self {
        let started_ns = segment.outcomes.as_slice().first().map_or(0, |o| o.started_ns);
        let mut reply = Reply {
            first_index,
            cpu_share: segment.cpu_share,
            started_ns,
            elapsed_ns: 0,
            timings: Vec::with_capacity(segment.outcomes.len() * 3),
            outputs: Vec::with_capacity(segment.outcomes.len()),
            failures: Vec::new(),
        };
        for outcome in segment.outcomes {
            reply.elapsed_ns = reply.elapsed_ns.saturating_add(outcome.elapsed_ns);
            let elapsed = outcome.elapsed_ns.min(u64::MAX >> 1) << 1;
            match outcome.output {
                Ok(output) => {
                    packed::push(&mut reply.timings, elapsed);
                    reply.outputs.push(output);
                }
                Err(failed) => {
                    packed::push(&mut reply.timings, elapsed | 1);
                    reply.failures.push(failed);
                }
            }
        }
        reply
    }

    /// How many jobs it answers, if its parts agree (timings that end where
    /// a varint ends, one output or message per job).
    pub fn jobs(&self) -> Option<usize> {
        let (jobs, failed) = packed::count(&self.timings)?;
        let agree = failed == self.failures.len() && jobs - failed == self.outputs.len();
        agree.then_some(jobs)
    }

    /// The outcomes of its `jobs` jobs (from [`Reply::jobs`]), in order, with their timings.
    pub fn unpack(self, jobs: usize) -> Outcomes<O> {
        Outcomes {
            cursor: Cursor {
                share: FixedShare::new(self.cpu_share),
                next_start: self.started_ns,
                at: 0,
                left: jobs,
            },
            timings: self.timings,
            outputs: self.outputs.into_iter(),
            failures: self.failures.into_iter(),
        }
    }

    /// Keeps the first `at` jobs' results and returns the rest's, as a
    /// reply of its own (starting where the first part ends).
    pub fn split_off(&mut self, at: usize) -> Self {
        let head = packed::totals(&self.timings, at).unwrap_or_default();
        let tail_elapsed = self.elapsed_ns.saturating_sub(head.elapsed_ns);
        self.elapsed_ns = head.elapsed_ns;
        Reply {
            first_index: self.first_index + head.jobs as u64,
            cpu_share: self.cpu_share,
            started_ns: self.started_ns.saturating_add(head.elapsed_ns),
            elapsed_ns: tail_elapsed,
            timings: self.timings.split_off(head.bytes),
            outputs: self.outputs.split_off((head.jobs - head.failed).min(self.outputs.len())),
            failures: self.failures.split_off(head.failed.min(self.failures.len())),
        }
    }
}

/// The outcomes of a [`Reply`], one job at a time.
#[derive(Debug)]
pub struct Outcomes<O> {
    cursor: Cursor,
    timings: Vec<u8>,
    outputs: std::vec::IntoIter<O>,
    failures: std::vec::IntoIter<Failed>,
}

/// Where a walk over a reply's packed timings is.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    share: FixedShare,
    next_start: u64,
    /// Where the next job's timing starts in the timings.
    at: usize,
    left: usize,
}

impl Cursor {
    /// The next job's timings, and whether it failed.
    #[inline(always)]
    fn step(&mut self, timings: &[u8]) -> Option<(bool, Timed<()>)> {
        self.left = self.left.checked_sub(1)?;
        // A checked reply's timings are well formed; zero is the safe reading otherwise.
        let timing = packed::read(timings, &mut self.at).unwrap_or(0);
        let elapsed_ns = timing >> 1;
        let started_ns = self.next_start;
        self.next_start = self.next_start.saturating_add(elapsed_ns);
        let timed = Timed { output: (), started_ns, elapsed_ns, cpu_ns: self.share.of(elapsed_ns) };
        Some((timing & 1 == 1, timed))
    }
}

impl<O> Default for Outcomes<O> {
    /// No outcomes.
    fn default() -> Self {
        let cursor = Cursor { share: FixedShare(0), next_start: 0, at: 0, left: 0 };
        Outcomes {
            cursor,
            timings: Vec::new(),
            outputs: Vec::new().into_iter(),
            failures: Vec::new().into_iter(),
        }
    }
}

impl<O> Outcomes<O> {
    /// Outcomes not yet taken.
    pub fn len(&self) -> usize {
        self.cursor.left
    }

    /// True when every outcome has been taken.
    pub fn is_empty(&self) -> bool {
        self.cursor.left == 0
    }

    /// The outcomes not yet taken, borrowed instead of taken: each job's
    /// output (`None` for one that failed) with its timings. A consumer
    /// that only adds them up walks the packed bytes in a tight loop and
    /// moves no output.
    pub fn peek(&self) -> Peek<'_, O> {
        Peek { cursor: self.cursor, timings: &self.timings, outputs: self.outputs.as_slice().iter() }
    }
}

impl<O> Iterator for Outcomes<O> {
    type Item = Timed<JobOutcome<O>>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let (failed, Timed { started_ns, elapsed_ns, cpu_ns, .. }) = self.cursor.step(&self.timings)?;
        let output = if failed {
            Err(self.failures.next().unwrap_or_else(|| Failed::Unsendable("missing failure".into())))
        } else {
            self.outputs.next().ok_or_else(|| Failed::Unsendable("missing output".into()))
        };
        Some(Timed { output, started_ns, elapsed_ns, cpu_ns })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

/// The outcomes of a [`Reply`] not yet taken, borrowed: see [`Outcomes::peek`].
#[derive(Debug)]
pub struct Peek<'a, O> {
    cursor: Cursor,
    timings: &'a [u8],
    outputs: std::slice::Iter<'a, O>,
}

impl<'a, O> Iterator for Peek<'a, O> {
    type Item = Timed<Option<&'a O>>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let (failed, Timed { started_ns, elapsed_ns, cpu_ns, .. }) = self.cursor.step(self.timings)?;
        let output = if failed { None } else { self.outputs.next() };
        Some(Timed { output, started_ns, elapsed_ns, cpu_ns })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.cursor.left, Some(self.cursor.left))
    }
}

/// A reply's CPU share as a 32-bit binary fraction: a job's CPU time is
/// then an integer multiply, where `as` from `f64` (which saturates) cost
/// the consumer of millions of results more than anything else per job.
#[derive(Debug, Clone, Copy)]
pub struct FixedShare(u64);

impl FixedShare {
    /// `share`, clamped to 0..=1.
    pub fn new(share: f64) -> Self {
        FixedShare((share.clamp(0.0, 1.0) * (1u64 << 32) as f64) as u64)
    }

    /// That share of `nanos`.
    #[inline(always)]
    pub fn of(self, nanos: u64) -> u64 {
        ((u128::from(nanos) * u128::from(self.0)) >> 32) as u64
    }
}

/// A frame that could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("cannot encode message: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    #[error("cannot decode frame: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    #[error("frame has {0} trailing bytes after the message")]
    Trailing(usize),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_BYTES>()
}

/// Encodes a message as one frame.
pub fn encode<T: Serialize>(message: &T) -> Result<Frame, CodecError> {
    let bytes = bincode::serde::encode_to_vec(message, config())?;
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(CodecError::TooLarge(bytes.len()));
    }
    Ok(Frame(bytes))
}

/// Decodes one frame; any bytes left over are an error, as is an oversized frame.
pub fn decode<T: DeserializeOwned>(frame: &Frame) -> Result<T, CodecError> {
    if frame.0.len() > MAX_FRAME_BYTES {
        return Err(CodecError::TooLarge(frame.0.len()));
    }
    let (message, used) = bincode::serde::decode_from_slice(&frame.0, config())?;
    if used != frame.0.len() {
        return Err(CodecError::Trailing(frame.0.len() - used));
    }
    Ok(message)
}

/// Appends one job's encoding to `out`, as it appears inside a [`JobBatch`].
pub fn encode_job<J: Serialize>(job: &J, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    bincode::serde::encode_into_writer(job, VecWriter(out), config()).map_err(|e| {
        out.truncate(start);
        e.into()
    })
}

/// Appends straight to a `Vec`: cheaper per job than going through `io::Write`.
struct VecWriter<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for VecWriter<'_> {
    #[inline(always)]
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// A [`JobBatch`] frame from `count` jobs already encoded back to back by
/// [`encode_job`]: the batch's header, then their bytes as they are.
pub fn batch_frame(
    first_index: u64,
    count: usize,
    jobs: impl FnOnce(&mut Vec<u8>),
) -> Result<Frame, CodecError> {
    let mut bytes = bincode::serde::encode_to_vec((first_index, count as u64), config())?;
    jobs(&mut bytes);
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(CodecError::TooLarge(bytes.len()));
    }
    Ok(Frame(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_batch_of_separately_encoded_jobs_decodes_as_a_job_batch() {
        let jobs = vec![(2u64, "a".to_string()), (u64::MAX, "bc".into())];
        let frame = batch_frame(7, jobs.len(), |out| {
            for job in &jobs {
                encode_job(job, out).unwrap();
            }
        })
        .unwrap();
        assert_eq!(decode::<JobBatch<(u64, String)>>(&frame).unwrap(), JobBatch { first_index: 7, jobs });
        // A job too large to encode in place takes the other path, with the same bytes.
        let big = vec![(1u64, "x".repeat(500))];
        let frame = batch_frame(0, 1, |out| encode_job(&big[0], out).unwrap()).unwrap();
        assert_eq!(
            decode::<JobBatch<(u64, String)>>(&frame).unwrap(),
            JobBatch { first_index: 0, jobs: big }
        );
    }

    #[test]
    fn a_prime_check_travels_as_one_varint() {
        use crate::primes::{Kernel, PrimeCheck};
        for kernel in Kernel::ALL {
            for (n, bytes) in
                [(0, 1), (100, 1), (1000, 3), (1 << 20, 5), (1 << 31, 9), (u64::MAX >> 1, 9), (u64::MAX, 17)]
            {
                let job = PrimeCheck { n, kernel };
                let frame = encode(&job).unwrap();
                assert_eq!(frame.0.len(), bytes, "{n}");
                assert_eq!(decode::<PrimeCheck>(&frame).unwrap(), job);
            }
        }
        let too_big = u128::from(u64::MAX) * 2 + 2;
        assert!(decode::<PrimeCheck>(&encode(&too_big).unwrap()).is_err(), "beyond u64");
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut frame = encode(&7u64).unwrap();
        frame.0.push(0);
        assert!(matches!(decode::<u64>(&frame), Err(CodecError::Trailing(1))));
    }

    #[test]
    fn a_length_prefix_beyond_the_limit_is_rejected_without_allocating() {
        // first_index 0, then a varint length of u64::MAX jobs.
        let frame = Frame(vec![0, 253, 255, 255, 255, 255, 255, 255, 255, 255]);
        assert!(decode::<JobBatch<u64>>(&frame).is_err());
    }

    proptest! {
        #[test]
        fn a_fixed_share_is_the_share_to_a_nanosecond_a_second(nanos in 0u64..1 << 50, share in 0.0f64..=1.0) {
            let exact = nanos as f64 * share;
            let fixed = FixedShare::new(share).of(nanos) as f64;
            prop_assert!(fixed <= nanos as f64 && (exact - fixed).abs() <= 1.0 + nanos as f64 / 1e9, "{fixed} vs {exact}");
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let frame = Frame(bytes);
            let _ = decode::<JobBatch<u64>>(&frame);
            let _ = decode::<Reply<bool>>(&frame);
            let _ = decode::<Setup>(&frame);
        }

        #[test]
        fn replies_round_trip(first in any::<u64>(), share in 0.0f64..=1.0, start in 0u64..1 << 62, raw in proptest::collection::vec((any::<Option<bool>>(), 0u64..1 << 40), 0..64)) {
            let mut next_start = start;
            let outcomes: Vec<Timed<JobOutcome<bool>>> = raw
                .into_iter()
                .map(|(output, elapsed_ns)| {
                    let started_ns = next_start;
                    next_start += elapsed_ns;
                    let output = output.ok_or_else(|| Failed::Panicked(format!("panic at {started_ns}")));
                    Timed { output, started_ns, elapsed_ns, cpu_ns: FixedShare::new(share).of(elapsed_ns) }
                })
                .collect();
            let mut buffer = outcomes.clone();
            let reply = Reply::pack(first, Segment { offset: 0, outcomes: buffer.drain(..), cpu_share: share });
            let decoded = decode::<Reply<bool>>(&encode(&reply).unwrap()).unwrap();
            prop_assert_eq!(&decoded, &reply);
            let jobs = decoded.jobs().unwrap();
            prop_assert_eq!(jobs, outcomes.len());
            prop_assert_eq!(decoded.elapsed_ns, outcomes.iter().map(|o| o.elapsed_ns).sum::<u64>());
            prop_assert_eq!(decoded.clone().unpack(jobs).collect::<Vec<_>>(), outcomes.clone());
            // A peek sees what taking would yield, from wherever taking has got to.
            let mut taken = decoded.clone().unpack(jobs);
            for skip in [0, jobs / 2] {
                let peeked: Vec<_> = taken.peek().map(|t| (t.output.copied(), t.started_ns, t.elapsed_ns, t.cpu_ns)).collect();
                let expected: Vec<_> = outcomes[skip..].iter().map(|t| (t.output.clone().ok(), t.started_ns, t.elapsed_ns, t.cpu_ns)).collect();
                prop_assert_eq!(peeked, expected);
                taken.by_ref().take(jobs / 2).for_each(drop);
            }
            let decoded_elapsed = decoded.elapsed_ns;
            let mut head = decoded;
            let at = outcomes.len() / 3;
            let tail = head.split_off(at);
            prop_assert_eq!(head.elapsed_ns + tail.elapsed_ns, decoded_elapsed);
            let rest = outcomes.len() - at;
            let rejoined: Vec<_> = head.unpack(at).chain(tail.unpack(rest)).collect();
            prop_assert_eq!(rejoined, outcomes);
        }
    }
}
