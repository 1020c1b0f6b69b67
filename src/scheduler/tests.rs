//! The invariant, checked by driving the state machine with random replies,
//! deaths, timeouts, duplicates and input, with no processes: every job
//! added is delivered exactly once, ordered streams in order, and every
//! stream finishes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

/// A job's result names the job, so a misrouted result is caught.
type Item = (StreamId, u64);

#[derive(Debug, Clone)]
enum Step {
    Add {
        stream: usize,
        count: usize,
    },
    /// The shell cannot encode the stream's next job.
    Reject {
        stream: usize,
    },
    /// The stream's jobs are large: batches for busy workers are capped.
    LimitPipelined {
        stream: usize,
        jobs: usize,
    },
    End {
        stream: usize,
    },
    Reply {
        worker: usize,
        count: usize,
    },
    Die {
        worker: usize,
    },
    /// The worker dies, but the shell learns it only when a send to it
    /// fails; replies it sent before still arrive, then its death.
    Sever {
        worker: usize,
    },
    Timeout,
    Pause,
    Close {
        stream: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..3usize, 1..40usize).prop_map(|(stream, count)| Step::Add { stream, count }),
        1 => (0..3usize).prop_map(|stream| Step::End { stream }),
        1 => (0..3usize).prop_map(|stream| Step::Reject { stream }),
        1 => (0..3usize, 0..4usize).prop_map(|(stream, jobs)| Step::LimitPipelined { stream, jobs }),
        8 => (0..4usize, 1..8usize).prop_map(|(worker, count)| Step::Reply { worker, count }),
        1 => (0..4usize).prop_map(|worker| Step::Die { worker }),
        1 => (0..4usize).prop_map(|worker| Step::Sever { worker }),
        1 => Just(Step::Timeout),
        1 => Just(Step::Pause),
        1 => (0..20usize).prop_map(|stream| Step::Close { stream }),
    ]
}

fn settings() -> impl Strategy<Value = Settings> {
    let byte_window = prop::option::of(16..2000usize);
    (
        (1..4usize, 0..3u32, any::<bool>(), 1..64usize, byte_window),
        (any::<bool>(), any::<bool>(), prop::option::of(1..20u64)),
    )
        .prop_map(
            |((workers, retries, timeout, window, window_bytes), (duplicate_tail, exact_blame, max_jobs))| {
                Settings {
                    workers,
                    retries,
                    job_timeout: timeout.then_some(Duration::from_secs(1)),
                    window,
                    window_bytes: window_bytes.unwrap_or(usize::MAX),
                    duplicate_tail,
                    exact_blame,
                    max_jobs_per_worker: max_jobs,
                }
            },
        )
}

/// The shell, simulated: what each worker holds, what each stream got.
struct Sim {
    scheduler: Scheduler<Vec<Item>>,
    now: Instant,
    streams: Vec<(StreamId, bool)>,
    closed: Vec<bool>,
    ended: Vec<bool>,
    added: Vec<u64>,
    workers: BTreeMap<WorkerId, VecDeque<(StreamId, u64, usize, usize)>>,
    got: HashMap<StreamId, Vec<(u64, bool)>>,
    finished: HashMap<StreamId, u32>,
    starting: Vec<WorkerId>,
    sent: HashMap<WorkerId, usize>,
    largest_send: usize,
    severed: HashSet<WorkerId>,
    rejected: HashSet<(StreamId, u64)>,
    pipelined: HashMap<StreamId, usize>,
}

impl Sim {
    fn new(settings: Settings, ordered: [bool; 3]) -> Sim {
        let now = Instant::now();
        let mut scheduler = Scheduler::new(settings, now);
        let streams = (0..3u64)
            .map(|i| {
                scheduler.open_stream(StreamId(i), ordered[i as usize]);
                (StreamId(i), ordered[i as usize])
            })
            .collect();
        let mut sim = Sim {
            scheduler,
            now,
            streams,
            closed: vec![false; 3],
            ended: vec![false; 3],
            added: vec![0; 3],
            workers: BTreeMap::new(),
            got: HashMap::new(),
            finished: HashMap::new(),
            starting: Vec::new(),
            sent: HashMap::new(),
            largest_send: 0,
            severed: HashSet::new(),
            rejected: HashSet::new(),
            pipelined: HashMap::new(),
        };
        sim.pump();
        sim
    }

    /// Carries out every action, starting workers at once.
    fn pump(&mut self) {
        loop {
            while let Some(action) = self.scheduler.poll_action() {
                match action {
                    Action::StartWorker(id) => self.starting.push(id),
                    Action::Send { worker, .. } if self.severed.contains(&worker) => {
                        self.scheduler.undeliverable(worker);
                    }
                    Action::Send { worker, stream, first, count } => {
                        let mut jobs = first..first + count as u64;
                        assert!(
                            !jobs.any(|i| self.rejected.contains(&(stream, i))),
                            "a rejected job was sent"
                        );
                        let busy = self.workers.get(&worker).is_some_and(|queue| !queue.is_empty());
                        let limit = self.pipelined.get(&stream).copied().unwrap_or(usize::MAX);
                        assert!(!busy || count <= limit, "{count} jobs pipelined past a limit of {limit}");
                        *self.sent.entry(worker).or_default() += count;
                        self.largest_send = self.largest_send.max(count);
                        self.workers
                            .get_mut(&worker)
                            .expect("send to a live worker")
                            .push_back((stream, first, count, 0));
                    }
                    Action::Kill { worker } | Action::Retire { worker } => {
                        self.workers.remove(&worker);
                    }
                    Action::Deliver { stream, delivery } => {
                        let list = self.got.entry(stream).or_default();
                        match delivery {
                            Delivery::Results { first, results } => {
                                for (offset, item) in results.into_iter().enumerate() {
                                    assert_eq!(item, (stream, first + offset as u64), "misrouted result");
                                    list.push((item.1, true));
                                }
                            }
                            Delivery::Failed { index, failure } => {
                                assert!(!failure.deaths.is_empty());
                                list.push((index, false));
                            }
                            Delivery::Rejected { index, .. } => {
                                assert!(
                                    self.rejected.contains(&(stream, index)),
                                    "job {index} was not rejected"
                                );
                                list.push((index, false));
                            }
                        }
                    }
                    Action::Forget { .. } | Action::Credit { .. } | Action::Lost(_) => {}
                    Action::Finished { stream, .. } => *self.finished.entry(stream).or_default() += 1,
                }
            }
            let Some(id) = self.starting.pop() else {
                return;
            };
            self.workers.insert(id, VecDeque::new());
            // Some destinations are whole pools (the cluster transport).
            let slots = 1 + (id.0 % 3) as usize;
            self.scheduler.worker_ready_with_slots(id, id.0 as u32 + 100, slots);
        }
    }

    fn worker(&self, n: usize) -> Option<WorkerId> {
        let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
        (!ids.is_empty()).then(|| ids[n % ids.len()])
    }

    fn apply(&mut self, step: Step) {
        match step {
            Step::Add { stream, count } => {
                let (id, _) = self.streams[stream];
                if self.closed[stream] || self.ended[stream] {
                    return;
                }
                let count = count.min(self.scheduler.credit(id));
                if count > 0 {
                    self.added[stream] += count as u64;
                    self.scheduler.add_jobs(id, count);
                }
            }
            Step::LimitPipelined { stream, jobs } => {
                let (id, _) = self.streams[stream];
                self.pipelined.insert(id, jobs);
                self.scheduler.limit_pipelined(id, jobs);
            }
            Step::Reject { stream } => {
                let (id, _) = self.streams[stream];
                if self.closed[stream] || self.ended[stream] || self.scheduler.credit(id) == 0 {
                    return;
                }
                self.rejected.insert((id, self.added[stream]));
                self.added[stream] += 1;
                self.scheduler.reject_job(id, "cannot encode".into());
            }
            Step::End { stream } => {
                if !self.closed[stream] && !self.ended[stream] {
                    self.ended[stream] = true;
                    self.scheduler.end_input(self.streams[stream].0);
                }
            }
            Step::Reply { worker, count } => {
                let Some(id) = self.worker(worker) else { return };
                let Some(front) = self.workers[&id].front().copied() else { return };
                let (stream, first, total, answered) = front;
                let count = count.min(total - answered);
                let start = first + answered as u64;
                let results: Vec<Item> = (start..start + count as u64).map(|i| (stream, i)).collect();
                let queue = self.workers.get_mut(&id).unwrap();
                queue.front_mut().unwrap().3 += count;
                if answered + count == total {
                    queue.pop_front();
                }
                self.scheduler.reply(id, start, results, Duration::from_micros(count as u64 * 50)).unwrap();
            }
            Step::Die { worker } => {
                let Some(id) = self.worker(worker) else { return };
                self.workers.remove(&id);
                self.severed.remove(&id);
                self.scheduler.worker_died(id, DeathCause::Signaled(9));
            }
            Step::Sever { worker } => {
                if let Some(id) = self.worker(worker) {
                    self.severed.insert(id);
                }
            }
            Step::Timeout => {
                self.now += Duration::from_millis(1500);
                self.scheduler.set_now(self.now);
                self.scheduler.tick();
            }
            Step::Pause => {
                self.now += Duration::from_secs(5);
                self.scheduler.set_now(self.now);
                self.scheduler.paused(Duration::from_secs(5));
                self.scheduler.tick();
            }
            Step::Close { stream } => {
                if stream < 3 && !self.closed[stream] {
                    self.closed[stream] = true;
                    self.scheduler.close_stream(self.streams[stream].0);
                }
            }
        }
        self.pump();
        self.check_indexes();
    }

    /// The scheduler's indexes of its streams agree with the streams.
    fn check_indexes(&self) {
        let streams = &self.scheduler.streams;
        let fresh: BTreeSet<StreamId> =
            streams.iter().filter(|(_, s)| s.available() > 0).map(|(&id, _)| id).collect();
        assert_eq!(self.scheduler.fresh, fresh, "streams with fresh jobs");
        let open = streams.values().filter(|s| !s.input_ended).count();
        assert_eq!(self.scheduler.open_inputs, open, "streams with open input");
    }

    /// Ends every input and answers everything, as a run does eventually.
    fn drain(&mut self) {
        for stream in 0..3 {
            self.apply(Step::End { stream });
        }
        for _ in 0..100_000 {
            let busy: Vec<usize> =
                self.workers.iter().enumerate().filter(|(_, (_, q))| !q.is_empty()).map(|(i, _)| i).collect();
            if let Some(&worker) = busy.first() {
                self.apply(Step::Reply { worker, count: usize::MAX });
                continue;
            }
            // A severed worker's channel closes once its replies are read.
            let Some(severed) = self.workers.keys().position(|id| self.severed.contains(id)) else {
                return;
            };
            self.apply(Step::Die { worker: severed });
        }
        panic!("the run never drained");
    }

    fn check(&self) {
        for (i, &(id, ordered)) in self.streams.iter().enumerate() {
            if self.closed[i] {
                continue;
            }
            let got = self.got.get(&id).cloned().unwrap_or_default();
            let mut indices: Vec<u64> = got.iter().map(|&(index, _)| index).collect();
            if ordered {
                assert!(
                    indices.windows(2).all(|w| w[0] < w[1]),
                    "ordered stream {i} out of order: {indices:?}"
                );
            }
            indices.sort_unstable();
            assert_eq!(indices, (0..self.added[i]).collect::<Vec<_>>(), "stream {i}: not exactly once");
            assert_eq!(self.finished.get(&id).copied(), Some(1), "stream {i} finished once");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_job_is_delivered_exactly_once_and_in_order(
        settings in settings(),
        ordered in any::<[bool; 3]>(),
        steps in prop::collection::vec(step(), 0..200),
    ) {
        let mut sim = Sim::new(settings, ordered);
        for step in steps {
            sim.apply(step);
        }
        sim.drain();
        sim.check();
    }
}

#[test]
fn a_job_that_kills_every_worker_fails_after_the_retries() {
    let settings = Settings { workers: 1, retries: 2, ..Settings::default() };
    let mut sim = Sim::new(settings, [true; 3]);
    sim.apply(Step::Add { stream: 0, count: 1 });
    sim.apply(Step::End { stream: 0 });
    for _ in 0..3 {
        sim.apply(Step::Die { worker: 0 });
    }
    let got = &sim.got[&sim.streams[0].0];
    assert_eq!(got, &[(0, false)]);
}

#[test]
fn a_recycled_worker_is_sent_exactly_its_quota() {
    let settings = Settings { workers: 1, max_jobs_per_worker: Some(3), ..Settings::default() };
    let mut sim = Sim::new(settings, [true; 3]);
    sim.apply(Step::Add { stream: 0, count: 10 });
    sim.drain();
    sim.check();
    assert!(sim.sent.len() >= 4, "10 jobs at 3 a worker need 4 workers");
    assert!(sim.sent.values().all(|&sent| sent <= 3), "{:?}", sim.sent);
}

#[test]
fn a_batch_limit_caps_every_fresh_batch() {
    let settings = Settings { workers: 1, ..Settings::default() };
    let mut sim = Sim::new(settings, [true; 3]);
    // Cheap jobs would grow batches to thousands; the shell says 3 fit a frame.
    sim.scheduler.limit_batch(StreamId(0), 3);
    sim.apply(Step::Add { stream: 0, count: 30 });
    sim.apply(Step::Add { stream: 0, count: 30 });
    sim.drain();
    sim.check();
    assert!(sim.largest_send <= 3, "a batch of {} jobs", sim.largest_send);
}

/// The batch sizes sent to one fresh destination with `slots` for 20 jobs.
fn first_sends(slots: usize) -> Vec<usize> {
    let mut scheduler: Scheduler<Vec<Item>> = Scheduler::new(Settings::default(), Instant::now());
    scheduler.open_stream(StreamId(0), true);
    while scheduler.poll_action().is_some() {}
    scheduler.worker_ready_with_slots(WorkerId(0), 100, slots);
    scheduler.add_jobs(StreamId(0), 20);
    std::iter::from_fn(|| scheduler.poll_action())
        .filter_map(|action| match action {
            Action::Send { count, .. } => Some(count),
            _ => None,
        })
        .collect()
}

#[test]
fn a_destination_with_slots_holds_a_batch_per_slot_while_jobs_look_dear() {
    // The prior cost makes one job a batch: 2 batches a slot are in flight.
    assert_eq!(first_sends(1), [1, 1]);
    assert_eq!(first_sends(4), [1; 8]);
}

#[test]
fn a_death_found_by_a_failed_send_blames_the_job_after_the_last_reply() {
    let settings = Settings { workers: 1, exact_blame: true, ..Settings::default() };
    let mut sim = Sim::new(settings, [true; 3]);
    sim.apply(Step::Add { stream: 0, count: 39 });
    sim.apply(Step::Add { stream: 0, count: 39 });
    // Cheap replies grow the batches until the second one held has 2 jobs.
    let id = *sim.workers.keys().next().expect("a worker");
    while sim.workers[&id].get(1).is_none_or(|&(_, _, count, _)| count < 2) {
        sim.apply(Step::Reply { worker: 0, count: usize::MAX });
    }
    let (_, second, _, _) = sim.workers[&id][1];
    // The worker answers its first batch and the first job of its second,
    // then dies running the next one. The shell reads the first batch's
    // answer, and its next send fails before the rest is read.
    sim.apply(Step::Sever { worker: 0 });
    sim.apply(Step::Reply { worker: 0, count: usize::MAX });
    sim.apply(Step::Reply { worker: 0, count: 1 });
    sim.apply(Step::Die { worker: 0 });
    sim.drain();
    sim.check();
    let failed: Vec<u64> =
        sim.got[&sim.streams[0].0].iter().filter(|(_, ok)| !ok).map(|&(index, _)| index).collect();
    assert_eq!(failed, [second + 1]);
}
