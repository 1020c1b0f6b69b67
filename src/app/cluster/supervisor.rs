//! Rank 0: reads the input and drives the pool's own scheduler
//! ([`procpool::scheduler`]) with every rank's pool as one destination
//! (`WorkerId(rank)`, as many slots as that rank has workers), its own pool
//! included. The scheduler's window bounds what rank 0 holds, whatever the
//! input's length; its batch sizing keeps messages few.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use procpool::scheduler::{Action, Delivery, Scheduler, Settings, StreamId, WorkerId};
use procpool::PrimeResult;
use procpool_worker::timing::monotonic_now;

use super::idle::Idle;
use super::link::{Link, Message};
use super::node::{Node, Reply};
use super::outcome::{Answers, Outcome};
use super::wire::{self, Hello};
use crate::app::StopSignals;
use crate::completed::{Completed, FailedJob};
use crate::input::{JobSource, Numbers, Pull};

const STREAM: StreamId = StreamId(0);

/// Receives each finished job in submission order, with the rank and host that ran it.
pub type Each<'a> = dyn FnMut(Completed, usize, &str) -> io::Result<()> + 'a;

/// Jobs read and not yet printed, at most: per rank enough for full
/// batches to every slot, within a fixed bound on rank 0's memory.
pub fn window(ranks: usize) -> usize {
    (ranks * 16_384).clamp(1 << 17, 1 << 20)
}

/// Why rank 0 stopped before the end of the input.
#[derive(Debug)]
pub enum Stopped {
    /// Printing failed (a closed stdout, or the stop flag seen while printing).
    Sink(io::Error),
    /// A rank's pool failed.
    Rank {
        rank: usize,
        message: String,
    },
    /// A rank sent what it could not have.
    Violation(String),
    Interrupted,
}

/// One rank as rank 0 knows it.
#[derive(Debug, Clone)]
pub struct Rank {
    pub hello: Hello,
    /// Added to its clock to read rank 0's (jobs on one timeline).
    pub offset_ns: i128,
}

/// Rank 0's side of the run.
pub struct Supervisor<'a, 'p> {
    link: &'a mut Link,
    node: &'a mut Node<'p>,
    scheduler: Scheduler<Answers>,
    /// Numbers of jobs `base..`, read and not yet printed.
    numbers: VecDeque<u64>,
    base: u64,
    input_ended: bool,
    pub ranks: Vec<Option<Rank>>,
    /// Jobs each rank's pool re-run after a worker died, as last reported.
    retries: Vec<u64>,
    finished: bool,
}

impl<'a, 'p> Supervisor<'a, 'p> {
    pub fn new(link: &'a mut Link, node: &'a mut Node<'p>, own: Hello) -> Self {
        let size = link.size();
        let settings = Settings {
            workers: size,
            retries: 0,
            job_timeout: None,
            window: window(size),
            // Results are counted in jobs (the window above): never in bytes.
            window_bytes: usize::MAX,
            // A rank starts every job it is sent at once: a copy would only cost work.
            duplicate_tail: false,
            exact_blame: true,
            max_jobs_per_worker: None,
        };
        let mut scheduler = Scheduler::new(settings, Instant::now());
        scheduler.open_stream(STREAM, true);
        scheduler.worker_ready_with_slots(WorkerId(0), 0, own.workers);
        let mut ranks = vec![None; size];
        ranks[0] = Some(Rank { hello: own, offset_ns: 0 });
        Supervisor {
            link,
            node,
            scheduler,
            numbers: VecDeque::new(),
            base: 0,
            input_ended: false,
            ranks,
            retries: vec![0; size],
            finished: false,
        }
    }

    /// Runs every number of `input`, handing each result to `each` in
    /// submission order with the rank that ran it.
    pub fn run(
        &mut self,
        input: &mut Numbers,
        stop: &StopSignals,
        each: &mut Each<'_>,
    ) -> Result<Instant, Stopped> {
        let mut idle = Idle::default();
        loop {
            self.scheduler.set_now(Instant::now());
            let mut busy = self.pull(input);
            while let Some(message) = self.link.receive() {
                busy = true;
                self.receive(message)?;
            }
            while let Some(reply) = self.node.poll(Duration::ZERO).map_err(|e| self.failed(0, e))? {
                busy = true;
                self.answered(0, reply)?;
            }
            busy |= self.act(each)?;
            self.link.progress();
            if self.finished {
                return Ok(Instant::now());
            }
            if stop.raised() {
                return Err(Stopped::Interrupted);
            }
            if busy {
                idle.reset();
            } else if let Some(reply) = self.node.poll(idle.wait()).map_err(|e| self.failed(0, e))? {
                self.answered(0, reply)?;
            }
        }
    }

    /// Reads as many numbers as the window allows and are ready.
    fn pull(&mut self, input: &mut Numbers) -> bool {
        let credit = self.scheduler.credit(STREAM);
        if self.input_ended || credit == 0 {
            return false;
        }
        let mut added = 0;
        while added < credit {
            match input.pull() {
                Pull::Number(n) => {
                    self.numbers.push_back(n);
                    added += 1;
                }
                Pull::NotYet => break,
                Pull::End => {
                    self.input_ended = true;
                    break;
                }
            }
        }
        if added > 0 {
            self.scheduler.add_jobs(STREAM, added);
        }
        if self.input_ended {
            self.scheduler.end_input(STREAM);
        }
        added > 0 || self.input_ended
    }

    fn receive(&mut self, message: Message) -> Result<(), Stopped> {
        let rank = message.from;
        match message.tag {
            wire::HELLO => {
                let hello = Hello::decode(&message.words)
                    .ok_or_else(|| Stopped::Violation(format!("rank {rank} sent a malformed hello")))?;
                let offset_ns = monotonic_now().as_nanos() as i128 - hello.clock.as_nanos() as i128;
                self.scheduler.worker_ready_with_slots(WorkerId(rank as u64), rank as u32, hello.workers);
                if let Some(slot) = self.ranks.get_mut(rank) {
                    *slot = Some(Rank { hello, offset_ns });
                }
                Ok(())
            }
            wire::ANSWERS => {
                let reply = wire::decode_answers(&message.words)
                    .ok_or_else(|| Stopped::Violation(format!("rank {rank} sent malformed answers")))?;
                self.answered(rank, reply)
            }
            wire::FAILED => {
                let message =
                    wire::decode_failed(&message.words).unwrap_or_else(|| "(unreadable reason)".into());
                Err(Stopped::Rank { rank, message })
            }
            tag => Err(Stopped::Violation(format!("rank {rank} sent a message tagged {tag}"))),
        }
    }

    fn failed(&self, rank: usize, error: procpool::JobError) -> Stopped {
        Stopped::Rank { rank, message: error.to_string() }
    }

    fn answered(&mut self, rank: usize, reply: Reply) -> Result<(), Stopped> {
        if let Some(retries) = self.retries.get_mut(rank) {
            *retries = (*retries).max(reply.retries);
        }
        let answers = Answers { rank, outcomes: reply.outcomes };
        self.scheduler
            .reply(WorkerId(rank as u64), reply.first, answers, reply.work)
            .map_err(|violation| Stopped::Violation(format!("rank {rank}: {}", violation.detail)))
    }

    /// Carries out what the scheduler asks; true if it asked anything.
    fn act(&mut self, each: &mut Each<'_>) -> Result<bool, Stopped> {
        let mut acted = false;
        while let Some(action) = self.scheduler.poll_action() {
            acted = true;
            match action {
                Action::Send { worker, first, count, .. } => self.send(worker.0 as usize, first, count)?,
                Action::Deliver { delivery, .. } => self.deliver(delivery, each)?,
                Action::Forget { below, .. } => {
                    let drop = (below.saturating_sub(self.base) as usize).min(self.numbers.len());
                    self.numbers.drain(..drop);
                    self.base += drop as u64;
                }
                Action::Finished { .. } => self.finished = true,
                Action::Lost(loss) => {
                    let rank = loss.worker.0 as usize;
                    return Err(Stopped::Rank { rank, message: format!("lost: {}", loss.death.cause) });
                }
                // Ranks are started by the launcher and never recycled or timed out.
                Action::StartWorker(_)
                | Action::Kill { .. }
                | Action::Retire { .. }
                | Action::Credit { .. } => {}
            }
        }
        Ok(acted)
    }

    fn send(&mut self, rank: usize, first: u64, count: usize) -> Result<(), Stopped> {
        let start = (first - self.base) as usize;
        let numbers: Vec<u64> = self.numbers.range(start..start + count).copied().collect();
        if rank == 0 {
            self.node.run(first, &numbers).map_err(|e| self.failed(0, e))
        } else {
            self.link.send(rank, wire::BATCH, wire::batch(first, &numbers));
            Ok(())
        }
    }

    fn deliver(&mut self, delivery: Delivery<Answers>, each: &mut Each<'_>) -> Result<(), Stopped> {
        let number = |index: u64| self.numbers.get((index - self.base) as usize).copied().unwrap_or_default();
        match delivery {
            Delivery::Results { first, results } => {
                let rank = self.ranks.get(results.rank).and_then(Option::as_ref);
                let offset = rank.map_or(0, |r| r.offset_ns);
                let host = rank.map_or("?", |r| r.hello.host.as_str());
                for (index, outcome) in (first..).zip(results.outcomes) {
                    let n = number(index);
                    let completed = match outcome {
                        Outcome::Checked { prime, started_at, elapsed, cpu, pid } => {
                            let started_at = shift(started_at, offset);
                            Completed::Checked(PrimeResult { index, n, prime, started_at, elapsed, cpu, pid })
                        }
                        Outcome::Failed { deaths } => Completed::Failed(FailedJob { index, n, deaths }),
                    };
                    each(completed, results.rank, host).map_err(Stopped::Sink)?;
                }
            }
            Delivery::Failed { index, failure } => {
                let n = number(index);
                let failed = Completed::Failed(FailedJob { index, n, deaths: failure.deaths });
                each(failed, 0, "?").map_err(Stopped::Sink)?;
            }
            // Numbers always encode: the cluster never rejects a job.
            Delivery::Rejected { index, .. } => {
                let failed = Completed::Failed(FailedJob { index, n: number(index), deaths: Vec::new() });
                each(failed, 0, "?").map_err(Stopped::Sink)?;
            }
        }
        Ok(())
    }

    /// Waits a moment at most for ranks that have not said hello yet (a
    /// short input can be done before they have), so the summary counts them.
    pub fn await_hellos(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.ranks.iter().any(Option::is_none) && Instant::now() < deadline {
            match self.link.receive() {
                Some(message) if message.tag == wire::HELLO => {
                    let _ = self.receive(message);
                }
                Some(_) => {}
                None => std::thread::sleep(Duration::from_micros(100)),
            }
        }
    }

    /// Jobs re-run after a worker died, over every rank.
    pub fn retries(&self) -> u64 {
        self.retries.iter().sum()
    }

    /// Rank 0's MPI traffic so far: (messages, words) sent and received.
    pub fn traffic(&self) -> ((u64, u64), (u64, u64)) {
        (self.link.sent, self.link.received)
    }

    /// Tells every other rank the run is over, and waits until they have it.
    pub fn stop_ranks(&mut self) {
        for rank in 1..self.link.size() {
            self.link.send(rank, wire::STOP, Vec::new());
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.link.busy() && Instant::now() < deadline {
            self.link.progress();
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

/// A rank's clock reading moved onto rank 0's clock.
fn shift(at: Duration, offset_ns: i128) -> Duration {
    let ns = (at.as_nanos() as i128 + offset_ns).max(0);
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}
