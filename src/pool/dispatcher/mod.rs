//! The thin shell around the [`Scheduler`]: one thread that owns the worker
//! processes and their ipc-channel links, turns what arrives (replies,
//! closed channels, commands from consumers, the time) into scheduler
//! events, and carries out the actions it asks for.
//!
//! It sleeps in one `select` over every worker channel plus a doorbell
//! channel that consumers ring when they queue a command, so it wakes on
//! events, never on an input-polling timer.

mod core;
mod stall;
mod store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ipc_channel::ipc::{IpcReceiverSet, IpcSelectionResult, IpcSender};
use ipc_channel::TrySelectError;
use procpool_worker::protocol::{self, Frame, Reply};
use procpool_worker::Job;

pub(crate) use self::core::{Command, Core};
pub(crate) use store::Segment;

use super::error::{PoolError, PoolEvent};
use super::process::WorkerProcess;
use super::spawner::{Spawner, Startup};
use super::stream::{Answers, Shared};
use super::EventHook;
use crate::scheduler::{Action, DeathCause, Loss, Scheduler, StreamId, WorkerId};
use stall::StallClock;
use store::JobStore;

/// Grace for a worker whose channel closed to finish dying before we kill it.
const DEATH_GRACE: Duration = Duration::from_millis(500);

/// How often a raw cancellation flag (set by a signal handler, which cannot
/// ring the doorbell) is looked at while the dispatcher waits.
const CANCEL_TICK: Duration = Duration::from_millis(50);

/// How long a worker's death by SIGTERM or SIGHUP waits for the cancellation
/// flag: a signal to the whole process group kills workers too, and this
/// process may handle its own copy a moment after their channels close.
const GROUP_SIGNAL_GRACE: Duration = Duration::from_millis(100);

/// Bytes of jobs a batch for a worker still running another may carry: it
/// waits in the worker's socket, whose buffer (about 208 KiB) must hold it,
/// or the send blocks until the worker is done, and a worker blocked
/// answering meanwhile would wait for this thread in turn.
const PIPELINED_FRAME: usize = 128 << 10;

/// Bytes of jobs one batch frame may carry: the frame limit, less room for its header.
const FRAME_BUDGET: usize = procpool_worker::protocol::MAX_FRAME_BYTES - 64;

/// A worker's link: its process and the channel its jobs go down.
struct Link {
    process: WorkerProcess,
    /// `None` once a send failed: dropping it ends a worker still reading.
    jobs: Option<IpcSender<Frame>>,
    receiver: u64,
}

/// A stream as the dispatcher keeps it.
struct Entry<O> {
    shared: Arc<Shared<O>>,
    store: JobStore,
    added: u64,
    /// The largest job seen so far, in encoded bytes: batches are capped so
    /// that a frame of such jobs stays under the frame limit.
    largest_job: usize,
}

/// Everything the dispatcher thread is started with.
pub(crate) struct Start<J: Job> {
    pub core: Arc<Core<J::Output>>,
    pub inbox: mpsc::Receiver<Command<J::Output>>,
    pub doorbell: ipc_channel::ipc::IpcReceiver<Frame>,
    pub scheduler: Scheduler<Answers<J::Output>>,
    pub spawner: Spawner,
    pub cancel: Option<Arc<AtomicBool>>,
    pub on_event: Option<EventHook<J>>,
    /// Told once every first worker is ready, or why one failed.
    pub ready: mpsc::Sender<Result<(), PoolError>>,
    pub workers: usize,
}

pub(crate) struct Dispatcher<J: Job> {
    core: Arc<Core<J::Output>>,
    inbox: mpsc::Receiver<Command<J::Output>>,
    set: IpcReceiverSet,
    doorbell: u64,
    scheduler: Scheduler<Answers<J::Output>>,
    links: HashMap<WorkerId, Link>,
    by_receiver: HashMap<u64, WorkerId>,
    /// Recycled workers on their way out, reaped when their channel closes.
    retiring: HashMap<u64, WorkerProcess>,
    streams: HashMap<StreamId, Entry<J::Output>>,
    spawner: Option<Spawner>,
    cancel: Option<Arc<AtomicBool>>,
    on_event: Option<EventHook<J>>,
    ready: Option<mpsc::Sender<Result<(), PoolError>>>,
    first_workers_left: usize,
    /// Set when the pool can no longer run anything; new streams fail with it.
    broken: Option<Arc<PoolError>>,
    stop: Option<bool>,
    /// Time this thread was not running, which no job is charged for.
    stalls: StallClock,
}

impl<J: Job> Dispatcher<J> {
    pub fn new(start: Start<J>) -> Result<Self, PoolError> {
        let mut set = IpcReceiverSet::new().map_err(|e| PoolError::Ipc(e.to_string()))?;
        let doorbell = set.add(start.doorbell).map_err(|e| PoolError::Ipc(e.to_string()))?;
        Ok(Dispatcher {
            core: start.core,
            inbox: start.inbox,
            set,
            doorbell,
            scheduler: start.scheduler,
            links: HashMap::new(),
            by_receiver: HashMap::new(),
            retiring: HashMap::new(),
            streams: HashMap::new(),
            spawner: Some(start.spawner),
            cancel: start.cancel,
            on_event: start.on_event,
            ready: Some(start.ready),
            first_workers_left: start.workers,
            broken: None,
            stop: None,
            stalls: StallClock::default(),
        })
    }

    /// The event loop; returns when the pool is dropped or shut down, or
    /// cannot go on. Every stream still open is told why.
    pub fn run(mut self) {
        loop {
            self.carry_out();
            if self.stop.is_some() {
                return;
            }
            let asked = Instant::now();
            if let Some(idle) = self.stalls.before_wait(asked) {
                self.scheduler.paused(idle);
            }
            let wait = self.wait_time();
            let selected = match wait {
                None => self.set.select().map_err(|e| e.to_string()),
                Some(wait) => match self.set.try_select_timeout(wait) {
                    Ok(events) => Ok(events),
                    Err(TrySelectError::Empty) => Ok(Vec::new()),
                    Err(TrySelectError::IoError(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
                        Ok(Vec::new())
                    }
                    Err(TrySelectError::IoError(e)) => Err(e.to_string()),
                },
            };
            let now = Instant::now();
            let pending = self.scheduler.next_deadline().is_some();
            if let Some(late) = self.stalls.after_wait(asked, wait, now, pending) {
                self.scheduler.paused(late);
            }
            self.scheduler.set_now(now);
            // Before acting on deaths: a stop signal to the whole process
            // group kills workers too, and those are not to be replaced.
            if self.cancelled() {
                self.break_pool(PoolError::Cancelled);
                return;
            }
            match selected {
                Ok(events) => self.handle(events),
                Err(e) => {
                    self.break_pool(PoolError::Ipc(e));
                    return;
                }
            }
            // Read replies already waiting before judging anyone overdue.
            if self.scheduler.next_deadline().is_some_and(|deadline| deadline <= now) {
                if let Ok(more) = self.set.try_select() {
                    self.handle(more);
                }
            }
            self.scheduler.tick();
        }
    }

    /// How long to wait for events: until the next job deadline, and no
    /// longer than the cancellation tick when a raw flag is watched.
    fn wait_time(&self) -> Option<Duration> {
        let deadline = self.scheduler.next_deadline().map(|d| d.saturating_duration_since(Instant::now()));
        let cancel = self.cancel.as_ref().map(|_| CANCEL_TICK);
        match (deadline, cancel) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    /// True when a worker killed by SIGTERM or SIGHUP turns out to have
    /// been stopped with this process (the flag is raised within
    /// [`GROUP_SIGNAL_GRACE`]): it is not to be blamed, retried or replaced.
    fn cancelled_with(&self, cause: &DeathCause) -> bool {
        if self.cancel.is_none() || !matches!(cause, DeathCause::Signaled(libc::SIGTERM | libc::SIGHUP)) {
            return false;
        }
        let deadline = Instant::now() + GROUP_SIGNAL_GRACE;
        while !self.cancelled() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    fn handle(&mut self, events: Vec<IpcSelectionResult>) {
        for event in events {
            match event {
                IpcSelectionResult::MessageReceived(id, _) if id == self.doorbell => self.read_commands(),
                IpcSelectionResult::MessageReceived(id, message) => {
                    let Some(&worker) = self.by_receiver.get(&id) else {
                        continue; // a worker already buried; its jobs went elsewhere
                    };
                    match message.to::<Frame>() {
                        Ok(frame) => self.on_reply(worker, &frame),
                        Err(e) => self.violation(worker, format!("unreadable message: {e}")),
                    }
                }
                IpcSelectionResult::ChannelClosed(id) => {
                    if let Some(mut process) = self.retiring.remove(&id) {
                        process.reap_within(DEATH_GRACE);
                    } else if let Some(worker) = self.by_receiver.remove(&id) {
                        self.on_death(worker);
                    }
                }
            }
            if self.stop.is_some() {
                return;
            }
        }
    }

    fn read_commands(&mut self) {
        self.core.answered();
        while let Ok(command) = self.inbox.try_recv() {
            self.command(command);
        }
    }

    fn command(&mut self, command: Command<J::Output>) {
        match command {
            Command::Open { stream, ordered, shared } => {
                if let Some(error) = &self.broken {
                    shared.fail(Arc::clone(error));
                    return;
                }
                self.scheduler.open_stream(stream, ordered);
                self.streams
                    .insert(stream, Entry { shared, store: JobStore::default(), added: 0, largest_job: 0 });
            }
            Command::Jobs { stream, segment } => {
                let Some(entry) = self.streams.get_mut(&stream) else {
                    return;
                };
                let count = segment.len();
                let largest = segment.largest_job();
                entry.added += count as u64;
                entry.store.push(segment);
                if largest > entry.largest_job {
                    entry.largest_job = largest;
                    self.scheduler.limit_batch(stream, FRAME_BUDGET / largest.max(1));
                    self.scheduler.limit_pipelined(stream, PIPELINED_FRAME / largest.max(1));
                }
                self.scheduler.add_jobs(stream, count);
            }
            Command::Reject { stream, reason } => {
                if let Some(entry) = self.streams.get_mut(&stream) {
                    entry.added += 1;
                    self.scheduler.reject_job(stream, reason);
                }
            }
            Command::End { stream } => self.scheduler.end_input(stream),
            Command::Close { stream } => {
                self.streams.remove(&stream);
                self.scheduler.close_stream(stream);
            }
            Command::Startup(startup) => self.on_startup(startup),
            Command::Shutdown { graceful } => self.stop = Some(graceful),
        }
    }

    fn on_startup(&mut self, startup: Startup) {
        match startup {
            Startup::Ready(started) => {
                let receiver = match self.set.add(started.results) {
                    Ok(receiver) => receiver,
                    Err(e) => return self.break_pool(PoolError::Ipc(e.to_string())),
                };
                let pid = started.process.pid;
                self.by_receiver.insert(receiver, started.id);
                self.links.insert(
                    started.id,
                    Link { process: started.process, jobs: Some(started.jobs), receiver },
                );
                self.scheduler.worker_ready(started.id, pid);
                self.publish_pids();
                if self.first_workers_left > 0 {
                    self.first_workers_left -= 1;
                    if self.first_workers_left == 0 {
                        if let Some(ready) = self.ready.take() {
                            let _ = ready.send(Ok(()));
                        }
                    }
                } else {
                    self.emit(PoolEvent::WorkerStarted { pid });
                }
            }
            Startup::Failed { id, error } => {
                self.scheduler.worker_failed_to_start(id);
                if let Some(ready) = self.ready.take() {
                    let _ = ready.send(Err(error));
                    self.stop = Some(false);
                } else if self.scheduler.live_workers() + self.scheduler.starting_workers() == 0 {
                    self.break_pool(error);
                }
            }
        }
    }

    fn on_reply(&mut self, worker: WorkerId, frame: &Frame) {
        let pid = self.links.get(&worker).map_or(0, |link| link.process.pid);
        let reply: Reply<J::Output> = match protocol::decode(frame) {
            Ok(reply) => reply,
            Err(source) => return self.break_pool(PoolError::BadFrame { pid, source }),
        };
        let Some(jobs) = reply.jobs() else {
            return self.violation(worker, "a reply whose outputs do not match its timings".into());
        };
        let first = reply.first_index;
        let work = Duration::from_nanos(reply.elapsed_ns);
        let results = Answers { pid, jobs, bytes: frame.0.len(), reply };
        if let Err(violation) = self.scheduler.reply(worker, first, results, work) {
            self.break_pool(violation.into());
        }
    }

    fn violation(&mut self, worker: WorkerId, detail: String) {
        let pid = self.links.get(&worker).map_or(0, |link| link.process.pid);
        self.break_pool(crate::scheduler::Violation { pid, detail }.into());
    }

    /// A worker's channel closed: reap it and tell the scheduler how it ended.
    fn on_death(&mut self, worker: WorkerId) {
        let cause = match self.links.remove(&worker) {
            Some(mut link) => {
                link.process.reap_within(DEATH_GRACE);
                link.process.cause()
            }
            None => DeathCause::Unknown,
        };
        if self.cancelled_with(&cause) {
            return self.break_pool(PoolError::Cancelled);
        }
        self.scheduler.worker_died(worker, cause);
        self.publish_pids();
    }

    /// Carries out every action the scheduler has queued.
    fn carry_out(&mut self) {
        while let Some(action) = self.scheduler.poll_action() {
            if self.stop.is_some() {
                return;
            }
            match action {
                Action::StartWorker(id) => {
                    if let Some(spawner) = &self.spawner {
                        spawner.request(id);
                    }
                }
                Action::Send { worker, stream, first, count } => self.send(worker, stream, first, count),
                Action::Kill { worker } => {
                    if let Some(mut link) = self.links.remove(&worker) {
                        self.by_receiver.remove(&link.receiver);
                        link.process.kill_and_reap();
                    }
                    self.publish_pids();
                }
                Action::Retire { worker } => {
                    if let Some(link) = self.links.remove(&worker) {
                        self.by_receiver.remove(&link.receiver);
                        // Closing its job channel lets it finish and exit.
                        self.retiring.insert(link.receiver, link.process);
                    }
                    self.publish_pids();
                }
                Action::Deliver { stream, delivery } => {
                    if let Some(entry) = self.streams.get(&stream) {
                        entry.shared.deliver(delivery);
                    }
                }
                Action::Forget { stream, below } => {
                    if let Some(entry) = self.streams.get_mut(&stream) {
                        entry.store.forget(below);
                    }
                }
                Action::Credit { stream } => {
                    if let Some(entry) = self.streams.get(&stream) {
                        entry.shared.allow(entry.added + self.scheduler.credit(stream) as u64);
                    }
                }
                Action::Lost(loss) => self.report_loss(loss),
                Action::Finished { stream, retries } => {
                    if let Some(entry) = self.streams.remove(&stream) {
                        entry.shared.finish(retries);
                    }
                }
            }
        }
    }

    fn send(&mut self, worker: WorkerId, stream: StreamId, first: u64, count: usize) {
        let Some(entry) = self.streams.get(&stream) else {
            return;
        };
        let frame = match protocol::batch_frame(first, count, |out| entry.store.write(first, count, out)) {
            Ok(frame) => frame,
            Err(e) => {
                // Jobs too large for one frame: this stream cannot run.
                entry.shared.fail(Arc::new(PoolError::Encode(e)));
                self.streams.remove(&stream);
                self.scheduler.close_stream(stream);
                return;
            }
        };
        let Some(link) = self.links.get_mut(&worker) else {
            return;
        };
        let sent = link.jobs.as_ref().is_some_and(|jobs| jobs.send(frame).is_ok());
        if !sent {
            // It is dying: this batch never reached it and goes back
            // unblamed. Its death is judged when its results channel closes,
            // after the replies it sent before it died have been read.
            link.jobs = None;
            self.scheduler.undeliverable(worker);
        }
    }

    fn report_loss(&mut self, loss: Loss) {
        if self.on_event.is_none() {
            return;
        }
        let job = |streams: &HashMap<StreamId, Entry<J::Output>>, (stream, index): (StreamId, u64)| {
            let bytes = streams.get(&stream)?.store.job(index)?;
            let frame = Frame(bytes.to_vec());
            protocol::decode::<J>(&frame).ok()
        };
        let running = loss.running.and_then(|key| job(&self.streams, key));
        let suspects = loss.suspects.iter().filter_map(|&key| job(&self.streams, key)).collect();
        self.emit(PoolEvent::WorkerDied {
            death: loss.death,
            running,
            retrying: loss.retrying,
            suspects,
            requeued: loss.requeued,
        });
    }

    fn emit(&mut self, event: PoolEvent<J>) {
        if let Some(hook) = self.on_event.as_mut() {
            hook(&event);
        }
    }

    fn publish_pids(&self) {
        self.core.set_pids(self.links.values().map(|link| link.process.pid).collect());
    }

    /// The pool cannot go on: every open stream, and every later one, gets `error`.
    fn break_pool(&mut self, error: PoolError) {
        self.stop = Some(false);
        if let Some(ready) = self.ready.take() {
            // Still starting: no stream can be open yet (`build` has not
            // returned), and `build` returns the error itself.
            let _ = ready.send(Err(error));
            self.broken = Some(Arc::new(PoolError::ShutDown));
            return;
        }
        let error = Arc::new(error);
        for (_, entry) in self.streams.drain() {
            entry.shared.fail(Arc::clone(&error));
        }
        self.broken = Some(error);
    }
}

impl<J: Job> Drop for Dispatcher<J> {
    /// However the loop ended (even by a panic): stop taking commands, fail
    /// every stream still waiting, and end every worker.
    fn drop(&mut self) {
        let sender = self.core.close();
        let error = self.broken.clone().unwrap_or_else(|| Arc::new(PoolError::ShutDown));
        while let Ok(command) = self.inbox.try_recv() {
            if let Command::Open { shared, .. } = command {
                shared.fail(Arc::clone(&error));
            }
        }
        drop(sender);
        for (_, entry) in self.streams.drain() {
            entry.shared.fail(Arc::clone(&error));
        }
        if let Some(ready) = self.ready.take() {
            let _ = ready.send(Err(PoolError::ShutDown));
        }
        let graceful = self.stop == Some(true);
        let mut processes: Vec<WorkerProcess> = self.links.drain().map(|(_, link)| link.process).collect();
        processes.extend(self.retiring.drain().map(|(_, process)| process));
        if graceful {
            // Their job channels are closed now: give them a moment to exit.
            let deadline = Instant::now() + Duration::from_secs(1);
            for process in &mut processes {
                process.reap_within(deadline.saturating_duration_since(Instant::now()));
            }
        }
        drop(processes); // killed and reaped
        self.spawner.take(); // kills any worker still shaking hands
        self.core.set_pids(Vec::new());
    }
}
