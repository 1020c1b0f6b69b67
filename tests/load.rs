//! Load: hundreds of workers on two cores, and millions of numbers through
//! stdin with bounded memory.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::thread;

use common::{json_lines, Tag, FIXTURE};

#[test]
fn two_hundred_fifty_six_workers_check_the_fixture_correctly() {
    let tag = Tag::new("256");
    let output = tag
        .cmd()
        .args(["256", "--mode", "processes", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let objects = json_lines(&output);
    let verdicts: Vec<(u64, bool)> = objects
        .iter()
        .filter(|o| o["type"] == "result")
        .map(|o| (o["n"].as_u64().unwrap(), o["prime"].as_bool().unwrap()))
        .collect();
    assert_eq!(verdicts, FIXTURE.to_vec());
    let summary = objects.iter().find(|o| o["type"] == "summary").unwrap();
    assert_eq!(summary["workers"], 256);
    tag.assert_none_left();
}

#[test]
fn millions_of_numbers_through_stdin_stay_under_fifty_megabytes() {
    let tag = Tag::new("memory");
    const COUNT: u64 = 3_000_000;
    let mut child = tag
        .std_cmd()
        .args(["2", "--input", "-", "--mode", "processes", "--quiet", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = thread::spawn(move || {
        let mut buffer = Vec::new();
        for n in 1..=COUNT {
            writeln!(buffer, "{n}").unwrap();
            if buffer.len() > 1 << 20 {
                stdin.write_all(&buffer).unwrap();
                buffer.clear();
            }
        }
        stdin.write_all(&buffer).unwrap();
    });
    let reader = {
        let mut stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            let mut text = Vec::new();
            std::io::Read::read_to_end(&mut stdout, &mut text).unwrap();
            text
        })
    };
    let mut status = 0;
    // SAFETY: rusage is plain data for wait4 to fill; the pid is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) },
        child.id() as i32
    );
    feeder.join().unwrap();
    let objects = json_lines(&reader.join().unwrap());
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    assert_eq!(objects[0]["jobs"], COUNT, "every number delivered");
    let peak_mib = usage.ru_maxrss / 1024;
    assert!(
        peak_mib < 50,
        "peak RSS {peak_mib} MiB: input or results are being held in memory"
    );
    tag.assert_none_left();
}
