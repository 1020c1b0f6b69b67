//! Turning a segment of outcomes into reply frames. Almost always one frame;
//! when outputs do not fit one frame, or one cannot be encoded at all, the
//! segment is split, and each output that cannot travel becomes that job's
//! [`Failed::Unsendable`], so one bad output never costs its worker or the
//! other jobs' results.

use serde::Serialize;

use crate::protocol::{self, CodecError, Failed, Frame, JobOutcome, Reply, MAX_FRAME_BYTES};
use crate::timing::{Segment, Timed};

/// Room kept in every frame for a reply's header.
const HEADER_ROOM: usize = 64 << 10;

/// Bytes counted per job beyond its output or message: its timing varint,
/// and a failure's tag and length.
const PER_JOB: usize = 24;

/// The longest failure message that travels whole (a panic message can be
/// any size); a longer one is cut, at a character boundary.
const MAX_MESSAGE: usize = 64 << 10;

/// Hands `send` the frames answering jobs `first..` with `segment`.
pub fn send_reply<O: Serialize, E: From<CodecError>>(
    first: u64,
    segment: Segment<'_, JobOutcome<O>>,
    mut send: impl FnMut(Frame) -> Result<(), E>,
) -> Result<(), E> {
    let cpu_share = segment.cpu_share;
    let reply = Reply::pack(first, segment);
    match protocol::encode(&reply) {
        Ok(frame) => send(frame),
        Err(CodecError::Encode(_) | CodecError::TooLarge(_)) => {
            split(reply, cpu_share)?.into_iter().try_for_each(send)
        }
        Err(other) => Err(other.into()),
    }
}

/// One output at a time: each that cannot be encoded, or is too large for a
/// frame, becomes a failure; the rest go in as few frames as fit.
fn split<O: Serialize>(reply: Reply<O>, cpu_share: f64) -> Result<Vec<Frame>, CodecError> {
    let first = reply.first_index;
    let jobs = reply.jobs().unwrap_or_default();
    let budget = MAX_FRAME_BYTES - HEADER_ROOM;
    let mut frames = Vec::new();
    let mut group: Vec<Timed<JobOutcome<O>>> = Vec::new();
    let mut group_first = first;
    let mut group_bytes = 0;
    for (index, mut outcome) in (first..).zip(reply.unpack(jobs)) {
        let bytes = match &mut outcome.output {
            Ok(output) => match protocol::encode(&*output) {
                Ok(frame) if frame.0.len() <= budget => frame.0.len(),
                Ok(frame) => unsendable(&mut outcome, CodecError::TooLarge(frame.0.len())),
                Err(e) => unsendable(&mut outcome, e),
            },
            Err(Failed::Panicked(message) | Failed::Unsendable(message)) => {
                cut(message);
                message.len()
            }
        } + PER_JOB;
        if group_bytes + bytes > budget && !group.is_empty() {
            frames.push(pack(group_first, &mut group, cpu_share)?);
            group_first = index;
            group_bytes = 0;
        }
        group_bytes += bytes;
        group.push(outcome);
    }
    if !group.is_empty() {
        frames.push(pack(group_first, &mut group, cpu_share)?);
    }
    Ok(frames)
}

/// Cuts `message` to [`MAX_MESSAGE`] bytes, saying so.
fn cut(message: &mut String) {
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let total = message.len();
        message.truncate(end);
        message.push_str(&format!("... (cut: {total} bytes in all)"));
    }
}

/// Replaces the outcome's output by the reason it cannot travel; returns the bytes that takes.
fn unsendable<O>(outcome: &mut Timed<JobOutcome<O>>, error: CodecError) -> usize {
    let reason = error.to_string();
    let bytes = reason.len();
    outcome.output = Err(Failed::Unsendable(reason));
    bytes
}

fn pack<O: Serialize>(
    first: u64,
    group: &mut Vec<Timed<JobOutcome<O>>>,
    cpu_share: f64,
) -> Result<Frame, CodecError> {
    protocol::encode(&Reply::pack(first, Segment { offset: 0, outcomes: group.drain(..), cpu_share }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serializer;

    /// An output whose `Serialize` fails when it is `None`.
    struct Picky(Option<Vec<u8>>);

    impl Serialize for Picky {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match &self.0 {
                Some(bytes) => s.serialize_bytes(bytes),
                None => Err(serde::ser::Error::custom("refuses to be encoded")),
            }
        }
    }

    fn timed(output: JobOutcome<Picky>) -> Timed<JobOutcome<Picky>> {
        Timed { output, started_ns: 0, elapsed_ns: 1, cpu_ns: 1 }
    }

    #[test]
    fn outputs_that_cannot_travel_fail_alone_and_the_rest_fill_frames() {
        let big = || Picky(Some(vec![1; 6 << 20]));
        let mut outcomes = vec![
            timed(Ok(Picky(Some(vec![7])))),
            timed(Ok(Picky(None))),
            timed(Ok(big())),
            timed(Ok(Picky(Some(vec![0; MAX_FRAME_BYTES + 1])))),
            timed(Ok(big())),
            timed(Ok(big())),
            timed(Err(Failed::Panicked("boom".into()))),
            timed(Err(Failed::Panicked("é".repeat(10 << 20)))),
        ];
        let segment = Segment { offset: 0, outcomes: outcomes.drain(..), cpu_share: 1.0 };
        let mut frames = Vec::new();
        send_reply::<_, CodecError>(10, segment, |frame| {
            frames.push(frame);
            Ok(())
        })
        .unwrap();
        let replies: Vec<Reply<Vec<u8>>> = frames.iter().map(|f| protocol::decode(f).unwrap()).collect();
        assert!(replies.len() >= 2, "three 6 MiB outputs need two frames");
        let mut next = 10;
        let mut got = Vec::new();
        for reply in replies {
            assert_eq!(reply.first_index, next, "frames follow each other");
            let jobs = reply.jobs().unwrap();
            next += jobs as u64;
            got.extend(reply.unpack(jobs).map(|t| t.output.map(|o| o.len())));
        }
        assert_eq!(got.len(), 8);
        assert_eq!(got[0], Ok(1));
        assert!(
            matches!(&got[1], Err(Failed::Unsendable(r)) if r.contains("refuses to be encoded")),
            "{got:?}"
        );
        assert_eq!(got[2], Ok(6 << 20));
        assert!(matches!(&got[3], Err(Failed::Unsendable(_))), "{:?}", got[3]);
        assert_eq!((got[4].clone(), got[5].clone()), (Ok(6 << 20), Ok(6 << 20)));
        assert_eq!(got[6], Err(Failed::Panicked("boom".into())));
        assert!(
            matches!(&got[7], Err(Failed::Panicked(m)) if m.len() < 100 << 10 && m.ends_with("in all)")),
            "a 20 MiB panic message is cut"
        );
    }
}
