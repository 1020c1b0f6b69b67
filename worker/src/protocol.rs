//! What the supervisor and a worker say to each other, and the one codec that
//! encodes it.
//!
//! The handshake ([`Hello`]) travels over ipc-channel's own typed channel
//! because it carries channel endpoints. Everything after it travels as
//! [`Frame`]s: bincode 2 bytes with a size limit, so a job batch or result
//! batch costs one copy and no per-element framing.

use std::time::Duration;

use ipc_channel::ipc::{IpcReceiver, IpcSender};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::primes::Kernel;

/// Bumped whenever a message type changes; checked at the handshake.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest frame either side will decode (16 MiB). Batches are far
/// smaller (a few thousand numbers); anything bigger is a bug or an attack.
pub const MAX_FRAME_BYTES: usize = 16 << 20;

/// First argument that turns the `procpool` binary into a worker; the second
/// is the name of the supervisor's one-shot server, the third its pid.
pub const WORKER_FLAG: &str = "--procpool-worker";

/// One message's bytes. ipc-channel carries them as a raw byte string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame(#[serde(with = "serde_bytes")] pub Vec<u8>);

/// A worker's first and only typed message: who it is, which protocol it
/// speaks, and its two private channels.
#[derive(Debug, Serialize, Deserialize)]
pub struct Hello {
    /// Must equal [`PROTOCOL_VERSION`] or the supervisor rejects the worker.
    pub protocol: u32,
    /// The worker's process id, as the worker itself sees it.
    pub pid: u32,
    /// Where the supervisor sends [`JobBatch`] frames.
    pub jobs: IpcSender<Frame>,
    /// Where the supervisor receives [`ResultBatch`] frames.
    pub results: IpcReceiver<Frame>,
}

/// Consecutive jobs `first_index..first_index + numbers.len()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobBatch {
    pub first_index: u64,
    pub kernel: Kernel,
    pub numbers: Vec<u64>,
}

/// The same wire format as [`JobBatch`], borrowed, so the supervisor encodes
/// a batch without copying its numbers.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct JobBatchRef<'a> {
    pub first_index: u64,
    pub kernel: Kernel,
    pub numbers: &'a [u64],
}

/// Outcomes for consecutive jobs starting at `first_index`. A worker may
/// answer one batch with several of these (it flushes long batches early).
///
/// Packed for the millions-of-tiny-jobs case: one varint per job
/// (`elapsed_ns << 1 | prime`); the CPU share and the start time once per
/// message, since the jobs of a message ran back to back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultBatch {
    pub first_index: u64,
    /// CPU time / wall time of the worker thread over these jobs.
    pub cpu_share: f64,
    /// `CLOCK_MONOTONIC` nanoseconds when the first of these jobs started.
    pub started_ns: u64,
    pub verdicts: Vec<u64>,
}

impl ResultBatch {
    /// Packs a segment of consecutive, back-to-back outcomes.
    pub fn pack(first_index: u64, outcomes: &[Outcome], cpu_share: f64) -> Self {
        let verdicts =
            outcomes.iter().map(|o| (o.elapsed_ns.min(u64::MAX >> 1) << 1) | u64::from(o.prime)).collect();
        let started_ns = outcomes.first().map_or(0, |o| o.started_ns);
        ResultBatch { first_index, cpu_share, started_ns, verdicts }
    }

    /// The outcomes, in order.
    pub fn outcomes(&self) -> impl Iterator<Item = Outcome> + '_ {
        let share = self.cpu_share.clamp(0.0, 1.0);
        self.verdicts.iter().scan(self.started_ns, move |next_start, &verdict| {
            let elapsed_ns = verdict >> 1;
            let started_ns = *next_start;
            *next_start = next_start.saturating_add(elapsed_ns);
            Some(Outcome {
                prime: verdict & 1 == 1,
                started_ns,
                elapsed_ns,
                cpu_ns: (elapsed_ns as f64 * share) as u64,
            })
        })
    }
}

/// What checking one number found, and what it cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub prime: bool,
    /// `CLOCK_MONOTONIC` nanoseconds when the check began.
    pub started_ns: u64,
    /// Wall time around the check alone.
    pub elapsed_ns: u64,
    /// CPU time the checking thread got during the check (see [`crate::timing`]).
    pub cpu_ns: u64,
}

/// One checked number, as every executor reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrimeResult {
    /// Position in submission order, from 0.
    pub index: u64,
    pub n: u64,
    pub prime: bool,
    /// `CLOCK_MONOTONIC` reading when the check began: comparable across the
    /// processes of one machine, so runs can be drawn on one timeline.
    pub started_at: Duration,
    /// Wall time of the check, measured where it ran.
    pub elapsed: Duration,
    /// CPU time of the check; below `elapsed` when the core was shared.
    pub cpu: Duration,
    /// The process that ran the check.
    pub pid: u32,
}

impl PrimeResult {
    /// Joins a job with its outcome.
    pub fn new(index: u64, n: u64, outcome: Outcome, pid: u32) -> Self {
        PrimeResult {
            index,
            n,
            prime: outcome.prime,
            started_at: Duration::from_nanos(outcome.started_ns),
            elapsed: Duration::from_nanos(outcome.elapsed_ns),
            cpu: Duration::from_nanos(outcome.cpu_ns),
            pid,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn job_batch_round_trips() {
        let batch = JobBatch { first_index: 7, kernel: Kernel::Book, numbers: vec![2, 3, u64::MAX] };
        assert_eq!(decode::<JobBatch>(&encode(&batch).unwrap()).unwrap(), batch);
    }

    #[test]
    fn borrowed_batch_encodes_like_the_owned_one() {
        let numbers = [5, 6, 7];
        let borrowed = JobBatchRef { first_index: 1, kernel: Kernel::Fast, numbers: &numbers };
        let owned = JobBatch { first_index: 1, kernel: Kernel::Fast, numbers: numbers.to_vec() };
        assert_eq!(encode(&borrowed).unwrap(), encode(&owned).unwrap());
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut frame =
            encode(&ResultBatch { first_index: 0, cpu_share: 1.0, started_ns: 0, verdicts: vec![] }).unwrap();
        frame.0.push(0);
        assert!(matches!(decode::<ResultBatch>(&frame), Err(CodecError::Trailing(1))));
    }

    #[test]
    fn a_length_prefix_beyond_the_limit_is_rejected_without_allocating() {
        // first_index 0, kernel 0, then a varint length of u64::MAX numbers.
        let frame = Frame(vec![0, 0, 253, 255, 255, 255, 255, 255, 255, 255, 255]);
        assert!(decode::<JobBatch>(&frame).is_err());
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let frame = Frame(bytes);
            let _ = decode::<JobBatch>(&frame);
            let _ = decode::<ResultBatch>(&frame);
        }

        #[test]
        fn results_round_trip(first in any::<u64>(), share in 0.0f64..=1.0, start in 0u64..1 << 62, raw in proptest::collection::vec((any::<bool>(), 0u64..1 << 40), 0..64)) {
            let mut next_start = start;
            let outcomes: Vec<Outcome> = raw
                .into_iter()
                .map(|(prime, elapsed_ns)| {
                    let started_ns = next_start;
                    next_start += elapsed_ns;
                    Outcome { prime, started_ns, elapsed_ns, cpu_ns: (elapsed_ns as f64 * share) as u64 }
                })
                .collect();
            let batch = ResultBatch::pack(first, &outcomes, share);
            let decoded = decode::<ResultBatch>(&encode(&batch).unwrap()).unwrap();
            prop_assert_eq!(&decoded, &batch);
            prop_assert_eq!(decoded.outcomes().collect::<Vec<_>>(), outcomes);
        }
    }
}
