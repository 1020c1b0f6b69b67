//! MPI point to point, never blocking: sends are immediate (a rank that
//! sends while its peer sends too must not wait for a matching receive,
//! which a blocking send of a large message does), receives are probed.
//! No MPI call here waits, so no rank spins in the MPI library while its
//! workers want the cores.

use mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use mpi::request::{Request, StaticScope};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::Tag;

/// A send in flight and the buffer it reads, freed once MPI is done with it.
struct InFlight {
    request: Request<'static, [u64]>,
    buffer: *mut [u64],
}

/// One rank's end of the world communicator.
pub struct Link {
    world: SimpleCommunicator,
    sending: Vec<InFlight>,
    /// Messages and words sent and received, for the throughput figures.
    pub sent: (u64, u64),
    pub received: (u64, u64),
}

/// A message that has arrived.
pub struct Message {
    pub from: usize,
    pub tag: Tag,
    pub words: Vec<u64>,
}

impl Link {
    pub fn new(world: SimpleCommunicator) -> Self {
        Link { world, sending: Vec::new(), sent: (0, 0), received: (0, 0) }
    }

    pub fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    pub fn size(&self) -> usize {
        self.world.size() as usize
    }

    /// Starts sending `words` to `rank`; the buffer lives until MPI has sent it.
    pub fn send(&mut self, rank: usize, tag: Tag, words: Vec<u64>) {
        self.sent.0 += 1;
        self.sent.1 += words.len() as u64;
        let buffer: &'static mut [u64] = Box::leak(words.into_boxed_slice());
        let raw: *mut [u64] = buffer;
        // SAFETY: `raw` came from a leaked box that nothing else touches; MPI
        // only reads it, and it is freed only after its request completed.
        let request = self.world.process_at_rank(rank as i32).immediate_send_with_tag(
            StaticScope,
            unsafe { &*raw },
            tag,
        );
        self.sending.push(InFlight { request, buffer: raw });
        self.progress();
    }

    /// Completes the sends MPI has finished with and frees their buffers.
    pub fn progress(&mut self) {
        let mut still = Vec::with_capacity(self.sending.len());
        for InFlight { request, buffer } in self.sending.drain(..) {
            match request.test() {
                // SAFETY: the request is complete, so MPI no longer reads the buffer.
                Ok(_) => drop(unsafe { Box::from_raw(buffer) }),
                Err(request) => still.push(InFlight { request, buffer }),
            }
        }
        self.sending = still;
    }

    /// True while some send has not completed.
    pub fn busy(&self) -> bool {
        !self.sending.is_empty()
    }

    /// A message that has arrived, if any; never waits.
    pub fn receive(&mut self) -> Option<Message> {
        let probed = self.world.any_process().immediate_matched_probe()?;
        let (words, status) = probed.matched_receive_vec::<u64>();
        self.received.0 += 1;
        self.received.1 += words.len() as u64;
        Some(Message { from: status.source_rank() as usize, tag: status.tag(), words })
    }
}

impl Drop for Link {
    /// Sends still in flight when a rank stops early (a stop signal) are
    /// left to MPI: a pending request must not be dropped, and its buffer
    /// must outlive it, so both are leaked as the process ends.
    fn drop(&mut self) {
        for in_flight in self.sending.drain(..) {
            std::mem::forget(in_flight.request);
        }
    }
}
