//! Every rank but 0: says hello, runs the batches rank 0 sends on its own
//! pool, sends the answers back, and ends when told to.

use std::time::Duration;

use super::idle::Idle;
use super::link::Link;
use super::node::Node;
use super::wire::{self, Hello};
use crate::app::StopSignals;

/// How a rank's service ended.
#[derive(Debug)]
pub enum End {
    /// Rank 0 said the run is over.
    Told,
    /// A stop signal (the launcher passes Ctrl-C and SIGTERM on).
    Interrupted,
    /// Its pool failed; rank 0 has been told why.
    Failed,
}

/// Serves rank 0 until it says stop.
pub fn serve(link: &mut Link, node: &mut Node<'_>, hello: &Hello, stop: &StopSignals) -> End {
    link.send(0, wire::HELLO, hello.encode());
    let mut idle = Idle::default();
    loop {
        let mut busy = false;
        while let Some(message) = link.receive() {
            busy = true;
            match message.tag {
                wire::BATCH => {
                    let Some((&first, numbers)) = message.words.split_first() else {
                        continue;
                    };
                    if let Err(error) = node.run(first, numbers) {
                        return fail(link, error.to_string(), stop);
                    }
                }
                wire::STOP => {
                    node.finish();
                    while link.busy() {
                        link.progress();
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    return End::Told;
                }
                _ => {}
            }
        }
        let mut wait = Duration::ZERO;
        loop {
            match node.poll(wait) {
                Ok(Some(reply)) => {
                    busy = true;
                    wait = Duration::ZERO;
                    link.send(
                        0,
                        wire::ANSWERS,
                        wire::answers(reply.first, reply.work, reply.retries, &reply.outcomes),
                    );
                }
                Ok(None) if busy || !wait.is_zero() => break,
                Ok(None) => wait = idle.wait(),
                Err(error) => return fail(link, error.to_string(), stop),
            }
        }
        link.progress();
        if stop.raised() {
            return End::Interrupted;
        }
        if busy {
            idle.reset();
        }
    }
}

/// Tells rank 0 why this rank cannot go on, and waits to be told to stop.
fn fail(link: &mut Link, message: String, stop: &StopSignals) -> End {
    if stop.raised() {
        return End::Interrupted;
    }
    link.send(0, wire::FAILED, wire::failed(&message));
    let mut idle = Idle::default();
    while !stop.raised() {
        link.progress();
        if link.receive().is_some_and(|m| m.tag == wire::STOP) {
            return End::Failed;
        }
        std::thread::sleep(idle.wait());
    }
    End::Interrupted
}
