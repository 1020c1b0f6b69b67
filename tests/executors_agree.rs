//! Every executor gives the same verdicts in the same order.

mod common;

use common::{json_lines, Tag, FIXTURE};
use procpool_worker::primes::reference::sieve;

fn verdicts(tag: &Tag, args: &[&str]) -> Vec<(u64, bool)> {
    let output = tag.cmd().args(args).arg("--json").assert().success().get_output().stdout.clone();
    json_lines(&output)
        .iter()
        .filter(|o| o["type"] == "result")
        .enumerate()
        .map(|(i, o)| {
            assert_eq!(o["index"], i as u64, "out of order");
            (o["n"].as_u64().unwrap(), o["prime"].as_bool().unwrap())
        })
        .collect()
}

#[test]
fn fixture_in_every_mode_and_kernel() {
    let tag = Tag::new("agree-fixture");
    for mode in ["processes", "rayon", "sequential"] {
        for kernel in ["book", "fast"] {
            let got = verdicts(&tag, &["2", "--mode", mode, "--kernel", kernel]);
            assert_eq!(got, FIXTURE.to_vec(), "{mode} {kernel}");
        }
    }
    tag.assert_none_left();
}

#[test]
fn a_hundred_thousand_numbers_in_every_mode() {
    let tag = Tag::new("agree-range");
    let primes = sieve(100_000);
    let expected: Vec<(u64, bool)> = (1..100_000u64).map(|n| (n, primes[n as usize])).collect();
    for mode in ["processes", "rayon", "sequential"] {
        assert_eq!(verdicts(&tag, &["3", "--mode", mode, "--range", "1..100000"]), expected, "{mode}");
    }
    tag.assert_none_left();
}
