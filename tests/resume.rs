//! `--resume`: runs killed at random points (SIGKILL to the supervisor alone,
//! SIGINT to its process group as Ctrl-C sends it) are finished from their
//! own `--json` output, and the result is exactly the uninterrupted run's:
//! the same verdicts in the same order, each number once. Files from another
//! input, corrupt lines and torn last lines are handled as documented.

mod common;

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use common::{json_lines, send, wait_guarded, Tag, FIXTURE};
use nix::sys::signal::Signal;

/// A small, seeded generator: kill points differ from run to run, and a
/// failure names the seed that produced it.
struct Points(u64);

impl Points {
    fn new() -> Points {
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos();
        Points(u64::from(nanos) | 1)
    }

    /// A number in `low..high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + self.0 % (high - low).max(1)
    }
}

/// A run to interrupt and what an uninterrupted one prints.
struct Case {
    args: Vec<String>,
    /// (n, prime) in submission order.
    expected: Vec<(u64, bool)>,
    /// About how large its complete `--json` output is.
    bytes: u64,
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The classic 20 numbers with the book's kernel: about a second of work.
fn fixture() -> Case {
    Case {
        args: args(&["2", "--mode", "processes", "--kernel", "book", "--json"]),
        expected: FIXTURE.to_vec(),
        bytes: 20 * 125,
    }
}

/// 300,000 numbers near 10^9 with the book's kernel, its verdicts from the
/// fast kernel (the same for every u64, see the kernel cross-check).
fn range(tag: &Tag) -> Case {
    const RANGE: &str = "1000000000..1000300000";
    let output =
        tag.cmd().args(["2", "--mode", "processes", "--kernel", "fast", "--json", "--range", RANGE]).output();
    let expected = results(&output.unwrap().stdout).into_iter().map(|(_, n, prime)| (n, prime)).collect();
    Case {
        args: args(&["2", "--mode", "processes", "--kernel", "book", "--json", "--range", RANGE]),
        expected,
        bytes: 300_000 * 120,
    }
}

/// Every result's (index, n, prime), after checking that the run header comes first.
fn results(stdout: &[u8]) -> Vec<(u64, u64, bool)> {
    /// What a line says, read without building a whole JSON value.
    #[derive(serde::Deserialize)]
    struct Line {
        #[serde(rename = "type")]
        kind: String,
        index: Option<u64>,
        n: Option<u64>,
        prime: Option<bool>,
    }
    let text = String::from_utf8_lossy(stdout);
    let lines: Vec<Line> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"))).collect();
    if let Some(first) = lines.first() {
        assert_eq!(first.kind, "run", "the run header comes first");
    }
    lines
        .iter()
        .filter(|l| l.kind == "result")
        .map(|l| (l.index.unwrap(), l.n.unwrap(), l.prime.unwrap()))
        .collect()
}

/// Fails unless `path` holds exactly `expected`: every index once, in order, each with its verdict.
fn assert_complete(path: &Path, expected: &[(u64, bool)], context: &str) {
    let found = results(&fs::read(path).unwrap());
    let indices: Vec<u64> = found.iter().map(|r| r.0).collect();
    assert!(
        indices.iter().copied().eq(0..expected.len() as u64),
        "{context}: indices are not 0..{}",
        expected.len()
    );
    assert!(found.iter().map(|&(_, n, p)| (n, p)).eq(expected.iter().copied()), "{context}: verdicts differ");
}

/// Fails unless `path` holds a correct prefix of `expected` (at most a torn last line more).
fn assert_prefix(path: &Path, expected: &[(u64, bool)], context: &str) -> usize {
    let text = fs::read_to_string(path).unwrap();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let found = results(complete.as_bytes());
    for (position, &(index, n, prime)) in found.iter().enumerate() {
        assert_eq!((index, (n, prime)), (position as u64, expected[position]), "{context}: line {position}");
    }
    found.len()
}

/// Starts `procpool args` with stdout to `out`; once `out` holds `bytes`
/// bytes, sends `signal` (SIGKILL to the supervisor, others to its process
/// group) and waits for it. Returns the exit code (None for a signal death).
fn interrupt(tag: &Tag, args: &[String], out: &Path, bytes: u64, signal: Signal) -> Option<i32> {
    let mut child = tag
        .std_cmd()
        .args(args)
        .process_group(0)
        .stdout(File::create(out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while fs::metadata(out).map_or(0, |m| m.len()) < bytes && child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{out:?} never reached {bytes} bytes");
        }
        thread::sleep(Duration::from_millis(1));
    }
    let pid = child.id() as i32;
    if child.try_wait().unwrap().is_none() {
        send(if signal == Signal::SIGKILL { pid } else { -pid }, signal);
    }
    wait_guarded(&mut child, "the interrupted run").code()
}

/// `procpool args --resume from`, stdout to `out`.
fn resume(tag: &Tag, args: &[String], from: &Path, out: &Path) -> Output {
    let output = tag
        .std_cmd()
        .args(args)
        .arg("--resume")
        .arg(from)
        .stdout(File::create(out).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success(), "resume failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The summary of the JSON Lines in `path`.
fn summary(path: &Path) -> serde_json::Value {
    json_lines(&fs::read(path).unwrap()).into_iter().find(|o| o["type"] == "summary").expect("a summary")
}

/// Kills `case` at random points with each signal, resumes, and checks.
fn kill_and_resume(tag: &Tag, case: &Case, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut points = Points::new();
    let seed = points.0;
    let mut interrupted = 0;
    for (round, signal) in
        [Signal::SIGKILL, Signal::SIGINT, Signal::SIGKILL, Signal::SIGINT].into_iter().enumerate()
    {
        let killed = dir.path().join(format!("killed-{round}.jsonl"));
        let done = dir.path().join(format!("done-{round}.jsonl"));
        let at = points.between(300, case.bytes * 4 / 5);
        let context = format!("{what}, {signal} at {at} bytes (seed {seed})");
        let code = interrupt(tag, &case.args, &killed, at, signal);
        tag.assert_none_left();
        if signal == Signal::SIGINT {
            assert!(matches!(code, Some(130) | Some(0)), "{context}: exit code {code:?}");
        }
        let kept = assert_prefix(&killed, &case.expected, &context);
        interrupted += usize::from(kept < case.expected.len());
        resume(tag, &case.args, &killed, &done);
        assert_complete(&done, &case.expected, &context);
        let summary = summary(&done);
        assert_eq!(summary["carried"], kept as u64, "{context}: carried over what the file held");
        assert_eq!(summary["jobs"], (case.expected.len() - kept) as u64, "{context}: ran only the rest");
        tag.assert_none_left();
    }
    // Each point is within the first 80% of the output: a run that finished
    // before its signal arrived every time would test nothing.
    assert!(interrupted > 0, "{what}: no run was interrupted (seed {seed})");
}

#[test]
fn the_fixture_killed_anywhere_resumes_to_the_uninterrupted_result() {
    let tag = Tag::new("resume-fixture");
    kill_and_resume(&tag, &fixture(), "fixture");
}

#[test]
fn a_range_killed_anywhere_resumes_to_the_uninterrupted_result() {
    let tag = Tag::new("resume-range");
    let case = range(&tag);
    kill_and_resume(&tag, &case, "range");
}

#[test]
fn a_resumed_run_killed_again_resumes_again() {
    let tag = Tag::new("resume-twice");
    let case = range(&tag);
    let dir = tempfile::tempdir().unwrap();
    let mut points = Points::new();
    let seed = points.0;
    let [first, second, third] = ["1", "2", "3"].map(|n| dir.path().join(format!("run-{n}.jsonl")));
    interrupt(&tag, &case.args, &first, points.between(300, case.bytes / 3), Signal::SIGKILL);
    let kept = assert_prefix(&first, &case.expected, "first run");
    // Killed again once it has carried the first file over and checked more.
    let more = fs::metadata(&first).unwrap().len() + points.between(1000, case.bytes / 3);
    let mut resumed = case.args.clone();
    resumed.extend(["--resume".into(), first.display().to_string()]);
    interrupt(&tag, &resumed, &second, more, Signal::SIGKILL);
    tag.assert_none_left();
    let kept_again = assert_prefix(&second, &case.expected, &format!("second run (seed {seed})"));
    assert!(kept_again >= kept, "the second file holds the first one's results and more");
    resume(&tag, &case.args, &second, &third);
    assert_complete(&third, &case.expected, &format!("third run (seed {seed})"));
    assert_eq!(summary(&third)["carried"], kept_again as u64);
    tag.assert_none_left();
}

/// A complete `--json` run of the fixture with the fast kernel, in `dir`.
fn complete_fixture(tag: &Tag, dir: &Path) -> PathBuf {
    let path = dir.join("complete.jsonl");
    let output = tag
        .std_cmd()
        .args(["2", "--mode", "processes", "--kernel", "fast", "--json"])
        .stdout(File::create(&path).unwrap())
        .status()
        .unwrap();
    assert!(output.success());
    path
}

/// The first `lines` lines of `text`.
fn head(text: &str, lines: usize) -> &str {
    &text[..text.split_inclusive('\n').take(lines).map(str::len).sum::<usize>()]
}

const FAST: [&str; 5] = ["2", "--mode", "processes", "--kernel", "fast"];

#[test]
fn a_torn_last_line_is_checked_again_and_a_complete_file_needs_nothing() {
    let tag = Tag::new("resume-torn");
    let dir = tempfile::tempdir().unwrap();
    let complete = complete_fixture(&tag, dir.path());
    let text = fs::read_to_string(&complete).unwrap();
    // The header, 9 results, and half of the 10th.
    let torn = dir.path().join("torn.jsonl");
    fs::write(&torn, &text[..head(&text, 10).len() + 40]).unwrap();
    let done = dir.path().join("done.jsonl");
    let args = [&FAST[..], &["--json"]].concat().into_iter().map(String::from).collect::<Vec<_>>();
    resume(&tag, &args, &torn, &done);
    assert_complete(&done, &FIXTURE, "torn");
    assert_eq!((summary(&done)["carried"].as_u64(), summary(&done)["jobs"].as_u64()), (Some(9), Some(11)));

    // A complete file: everything carried, nothing checked, no worker started.
    let again = dir.path().join("again.jsonl");
    resume(&tag, &args, &done, &again);
    assert_complete(&again, &FIXTURE, "complete");
    assert_eq!(summary(&again)["jobs"], 0);
    assert_eq!(summary(&again)["pids"], 0);
    tag.assert_none_left();
}

#[test]
fn failures_and_missing_lines_anywhere_are_checked_again_in_their_places() {
    // Killed runs leave a prefix; a failure, or lines deleted by hand, leave
    // gaps, which are checked on the fly between the carried results: on the
    // consuming thread for a range, on the feeder thread for a file.
    let tag = Tag::new("resume-gaps");
    let dir = tempfile::tempdir().unwrap();
    let numbers = dir.path().join("numbers.txt");
    fs::write(&numbers, (1..=100_000u64).map(|n| format!("{n}\n")).collect::<String>()).unwrap();
    let mut points = Points::new();
    let seed = points.0;
    let numbers = numbers.display().to_string();
    for input in [["--range", "1..100001"], ["--input", numbers.as_str()]] {
        let args: Vec<String> =
            [&FAST[..], &["--json"], &input].concat().into_iter().map(String::from).collect();
        let complete = dir.path().join("complete.jsonl");
        assert!(tag
            .std_cmd()
            .args(&args)
            .stdout(File::create(&complete).unwrap())
            .status()
            .unwrap()
            .success());
        let text = fs::read_to_string(&complete).unwrap();
        let expected: Vec<(u64, bool)> =
            results(text.as_bytes()).into_iter().map(|(_, n, p)| (n, p)).collect();
        let (mut holes, mut kept) = (String::new(), 0u64);
        for line in text.lines() {
            let result = line.contains(r#""type":"result""#);
            match points.between(0, 14) {
                // A hole: the line is gone, or a failure stands in its place.
                0 if result => {}
                1 if result => {
                    let object: serde_json::Value = serde_json::from_str(line).unwrap();
                    let (index, n) = (&object["index"], &object["n"]);
                    holes.push_str(&format!(r#"{{"type":"failure","index":{index},"n":{n},"deaths":[]}}"#));
                    holes.push('\n');
                }
                _ => {
                    holes.push_str(line);
                    holes.push('\n');
                    kept += u64::from(result);
                }
            }
        }
        let with_holes = dir.path().join("holes.jsonl");
        fs::write(&with_holes, holes).unwrap();
        let done = dir.path().join("done.jsonl");
        resume(&tag, &args, &with_holes, &done);
        assert_complete(&done, &expected, &format!("{input:?}, holes by seed {seed}"));
        assert_eq!(summary(&done)["carried"], kept);
        assert_eq!(summary(&done)["jobs"], expected.len() as u64 - kept);
    }
    tag.assert_none_left();
}

#[test]
fn text_output_prints_the_complete_run_as_the_book_does() {
    let tag = Tag::new("resume-text");
    let dir = tempfile::tempdir().unwrap();
    let complete = complete_fixture(&tag, dir.path());
    let text = fs::read_to_string(&complete).unwrap();
    let half = dir.path().join("half.jsonl");
    fs::write(&half, head(&text, 11)).unwrap();
    let output = tag.cmd().args(FAST).arg("--resume").arg(&half).output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "Checking 20 numbers with 2 processes:");
    for (line, (n, prime)) in lines[1..21].iter().zip(FIXTURE) {
        let mark = if prime { 'P' } else { ' ' };
        assert!(line.starts_with(&format!("{n:>16}  {mark} ")), "{line:?}");
    }
    assert!(
        stdout.contains("resumed from ")
            && stdout.contains(": 10 results carried over (4 prime), 10 checked now"),
        "{stdout}"
    );
    tag.assert_none_left();
}

/// Runs `args` and checks that it fails with exit 2 and one line on
/// stderr, and that stdout holds at most `printed` lines: the header and the
/// results before a bad line, which are correct.
fn refused_after(tag: &Tag, args: &[&str], resume: &Path, printed: usize) -> String {
    // A guard against a hang (a FIFO): liveness, not speed.
    let guard = std::time::Duration::from_secs(20);
    let output = tag.cmd().timeout(guard).args(args).arg("--resume").arg(resume).output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.lines().count() <= printed, "{stdout}");
    stderr
}

/// As [`refused_after`], with nothing printed: the file is refused before any work.
fn refused(tag: &Tag, args: &[&str], resume: &Path) -> String {
    refused_after(tag, args, resume, 0)
}

#[test]
fn a_file_from_another_input_or_with_a_corrupt_line_is_refused() {
    let tag = Tag::new("resume-refused");
    let dir = tempfile::tempdir().unwrap();
    let complete = complete_fixture(&tag, dir.path());
    let name = complete.display().to_string();

    let other = refused(&tag, &[&FAST[..], &["--range", "1..100"]].concat(), &complete);
    assert!(other.contains(&format!("{name}: belongs to another input")), "{other}");
    let kernel = refused(&tag, &["2", "--mode", "processes", "--kernel", "book"], &complete);
    assert!(kernel.contains("was written with --kernel fast"), "{kernel}");

    let text = fs::read_to_string(&complete).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[4] = "{\"type\":\"result\",\"index\":3,\"n\":77";
    let corrupt = dir.path().join("corrupt.jsonl");
    fs::write(&corrupt, lines.join("\n") + "\n").unwrap();
    // The results before it are printed (three, at most: line 5 holds index 3).
    let stderr = refused_after(&tag, &[&FAST[..], &["--json"]].concat(), &corrupt, 4);
    let expected = format!("procpool: {}:5: not a procpool JSON line", corrupt.display());
    assert!(stderr.starts_with(&expected) && stderr.contains("\"n\\\":77"), "{stderr}");

    // The same numbers of another input: caught at the first result that names another number.
    let edited = dir.path().join("edited.jsonl");
    fs::write(&edited, text.replacen("\"n\":7777777777777777,", "\"n\":7777777777777771,", 1)).unwrap();
    let stderr = refused_after(&tag, &FAST, &edited, 3);
    assert!(
        stderr.contains(":4: number 2 of the fixture is 7777777777777777, not 7777777777777771"),
        "{stderr}"
    );

    let missing = refused(&tag, &FAST, &dir.path().join("missing.jsonl"));
    assert!(missing.contains("missing.jsonl: cannot read the --resume file: no such file"), "{missing}");
    // Nobody writes to it: opening it to read would block for ever, deaf to Ctrl-C.
    let fifo = dir.path().join("fifo.jsonl");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let not_a_file = refused(&tag, &FAST, &fifo);
    assert!(not_a_file.contains("cannot read the --resume file: it is not a regular file"), "{not_a_file}");
    let compare = refused(&tag, &["2", "--kernel", "fast"], &complete);
    assert!(compare.contains("--mode compare"), "{compare}");
    let sweep = refused(&tag, &["sweep", "2"], &complete);
    assert!(sweep.contains("a sweep times every point afresh"), "{sweep}");
    tag.assert_none_left();
}

#[test]
fn stdin_read_once_resumes_and_other_variants_finish_a_processes_run() {
    let tag = Tag::new("resume-stdin");
    let dir = tempfile::tempdir().unwrap();
    let numbers = dir.path().join("numbers.txt");
    let case = fixture();
    fs::write(&numbers, case.expected.iter().map(|(n, _)| format!("{n}\n")).collect::<String>()).unwrap();
    let half = dir.path().join("half.jsonl");
    let all = dir.path().join("all.jsonl");
    let stdin_run = |args: &[&str], out: &Path| {
        let mut command = tag.std_cmd();
        command.args(args).args(["--json", "--input", "-"]).stdin(File::open(&numbers).unwrap());
        assert!(command.stdout(File::create(out).unwrap()).status().unwrap().success());
    };
    stdin_run(&FAST, &all);
    let text = fs::read_to_string(&all).unwrap();
    assert!(text.starts_with(r#"{"type":"run","procpool":"#) && text.contains(r#""input":{"kind":"stream""#));
    fs::write(&half, head(&text, 8)).unwrap();
    for mode in ["processes", "rayon", "sequential"] {
        let done = dir.path().join(format!("{mode}.jsonl"));
        let half_path = half.display().to_string();
        stdin_run(&["2", "--mode", mode, "--kernel", "fast", "--resume", &half_path], &done);
        assert_complete(&done, &case.expected, mode);
        assert_eq!(summary(&done)["variant"], mode);
        assert_eq!(summary(&done)["carried"], 7);
    }
    tag.assert_none_left();
}
