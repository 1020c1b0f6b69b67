//! What ranks say to each other, as arrays of `u64` (MPI's own datatype, so
//! no codec sits between a batch and the wire): a batch is its first index
//! and its numbers (8 bytes a job), an answer 5 words a job.

use std::time::Duration;

use procpool::{Death, DeathCause};

use super::node::Reply;
use super::outcome::Outcome;

/// Message tags.
pub const HELLO: i32 = 1;
pub const BATCH: i32 = 2;
pub const ANSWERS: i32 = 3;
pub const STOP: i32 = 4;
pub const FAILED: i32 = 5;

/// What a rank tells rank 0 once its pool is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub workers: usize,
    /// The CPUs this rank may run on (its affinity), to count each host's cores once.
    pub cpus: Vec<u32>,
    /// Its `CLOCK_MONOTONIC` when it said hello, to put its jobs on rank 0's timeline.
    pub clock: Duration,
    pub host: String,
}

impl Hello {
    pub fn encode(&self) -> Vec<u64> {
        let mut words = vec![self.workers as u64, self.clock.as_nanos() as u64, self.cpus.len() as u64];
        words.extend(self.cpus.iter().map(|&cpu| u64::from(cpu)));
        push_text(&mut words, &self.host);
        words
    }

    pub fn decode(words: &[u64]) -> Option<Hello> {
        let (&workers, rest) = words.split_first()?;
        let (&clock, rest) = rest.split_first()?;
        let (&count, rest) = rest.split_first()?;
        let count = usize::try_from(count).ok().filter(|&c| c <= rest.len())?;
        let cpus = rest[..count].iter().map(|&cpu| u32::try_from(cpu).ok()).collect::<Option<_>>()?;
        let host = text(&rest[count..])?;
        Some(Hello { workers: workers as usize, cpus, clock: Duration::from_nanos(clock), host })
    }
}

/// `[first, n, n, ...]`: jobs `first..` of the run.
pub fn batch(first: u64, numbers: &[u64]) -> Vec<u64> {
    let mut words = Vec::with_capacity(numbers.len() + 1);
    words.push(first);
    words.extend_from_slice(numbers);
    words
}

/// Answers to jobs `first..first + outcomes.len()` that took `work` in all,
/// from a rank whose pool has re-run `retries` jobs so far.
pub fn answers(first: u64, work: Duration, retries: u64, outcomes: &[Outcome]) -> Vec<u64> {
    let mut words = Vec::with_capacity(4 + 5 * outcomes.len());
    words.extend([first, work.as_nanos() as u64, retries, outcomes.len() as u64]);
    for outcome in outcomes {
        match outcome {
            Outcome::Checked { prime, started_at, elapsed, cpu, pid } => words.extend([
                u64::from(*prime),
                started_at.as_nanos() as u64,
                elapsed.as_nanos() as u64,
                cpu.as_nanos() as u64,
                u64::from(*pid),
            ]),
            Outcome::Failed { deaths } => {
                words.extend([2, deaths.len() as u64]);
                for death in deaths {
                    let (kind, value) = cause_words(&death.cause);
                    words.extend([u64::from(death.pid), kind, value]);
                }
            }
        }
    }
    words
}

/// The reply an [`answers`] message carries.
pub fn decode_answers(words: &[u64]) -> Option<Reply> {
    let [first, work, retries, count, ref rest @ ..] = *words else {
        return None;
    };
    let mut rest = rest.iter().copied();
    let mut next = || rest.next();
    let mut outcomes = Vec::with_capacity(usize::try_from(count).ok()?.min(1 << 20));
    for _ in 0..count {
        let kind = next()?;
        outcomes.push(match kind {
            0 | 1 => Outcome::Checked {
                prime: kind == 1,
                started_at: Duration::from_nanos(next()?),
                elapsed: Duration::from_nanos(next()?),
                cpu: Duration::from_nanos(next()?),
                pid: u32::try_from(next()?).ok()?,
            },
            2 => {
                let deaths = (0..next()?)
                    .map(|_| {
                        let pid = u32::try_from(next()?).ok()?;
                        let cause = cause_of(next()?, next()?);
                        Some(Death { pid, cause })
                    })
                    .collect::<Option<_>>()?;
                Outcome::Failed { deaths }
            }
            _ => return None,
        });
    }
    Some(Reply { first, work: Duration::from_nanos(work), outcomes, retries })
}

fn cause_words(cause: &DeathCause) -> (u64, u64) {
    match cause {
        DeathCause::Exited(code) => (0, *code as u32 as u64),
        DeathCause::Signaled(signal) => (1, *signal as u32 as u64),
        DeathCause::TimedOut(limit) => (2, limit.as_nanos() as u64),
        _ => (3, 0),
    }
}

fn cause_of(kind: u64, value: u64) -> DeathCause {
    match kind {
        0 => DeathCause::Exited(value as u32 as i32),
        1 => DeathCause::Signaled(value as u32 as i32),
        2 => DeathCause::TimedOut(Duration::from_nanos(value)),
        _ => DeathCause::Unknown,
    }
}

/// A failure's message, as `[length, bytes packed 8 a word]`.
pub fn failed(message: &str) -> Vec<u64> {
    let mut words = Vec::new();
    push_text(&mut words, message);
    words
}

pub fn decode_failed(words: &[u64]) -> Option<String> {
    text(words)
}

fn push_text(words: &mut Vec<u64>, text: &str) {
    words.push(text.len() as u64);
    words.extend(text.as_bytes().chunks(8).map(|chunk| {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        u64::from_le_bytes(word)
    }));
}

fn text(words: &[u64]) -> Option<String> {
    let (&len, rest) = words.split_first()?;
    let len = usize::try_from(len).ok().filter(|&len| len.div_ceil(8) <= rest.len())?;
    let bytes: Vec<u8> = rest.iter().flat_map(|word| word.to_le_bytes()).take(len).collect();
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_survives_the_wire() {
        let hello = Hello {
            workers: 3,
            cpus: vec![0, 5],
            clock: Duration::from_nanos(123),
            host: "nöde-17.cluster".into(),
        };
        assert_eq!(Hello::decode(&hello.encode()), Some(hello));
        assert_eq!(Hello::decode(&[1, 2]), None);
    }

    #[test]
    fn answers_survive_the_wire_with_every_kind_of_death() {
        let outcomes = vec![
            Outcome::Checked {
                prime: true,
                started_at: Duration::from_secs(9),
                elapsed: Duration::from_micros(5),
                cpu: Duration::from_micros(4),
                pid: 77,
            },
            Outcome::Failed {
                deaths: vec![
                    Death { pid: 1, cause: DeathCause::Signaled(9) },
                    Death { pid: 2, cause: DeathCause::Exited(-1) },
                    Death { pid: 3, cause: DeathCause::TimedOut(Duration::from_millis(100)) },
                    Death { pid: 4, cause: DeathCause::Unknown },
                ],
            },
        ];
        let words = answers(40, Duration::from_millis(2), 3, &outcomes);
        let reply = decode_answers(&words).expect("decodes");
        assert_eq!((reply.first, reply.work, reply.retries), (40, Duration::from_millis(2), 3));
        assert_eq!(reply.outcomes, outcomes);
        assert!(decode_answers(&words[..words.len() - 1]).is_none(), "a torn message is refused");
    }

    #[test]
    fn a_failure_message_survives_the_wire() {
        assert_eq!(
            decode_failed(&failed("cannot start worker: EAGAIN")).as_deref(),
            Some("cannot start worker: EAGAIN")
        );
    }
}
