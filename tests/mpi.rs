//! `--mpi` under a real `mpirun`: 3 ranks oversubscribed on this machine,
//! each with its own pool of real worker processes. Runs only in a build
//! with `--features mpi` and where `mpirun` is installed; otherwise every
//! test is reported ignored, with the reason printed. The launcher
//! checks run in every build.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{send, wait_guarded, Tag, FIXTURE};
use libtest_mimic::{Arguments, Failed, Trial};
use nix::sys::signal::Signal;
use procpool_worker::Kernel;

type Test = fn() -> Result<(), Failed>;

/// Book-kernel jobs of ~10-50 ms each on this machine: a run of a few
/// seconds, long enough to interfere with, short enough for CI.
const SLOW_RANGE: (u64, u64) = (1_000_000_000_000_000, 1_000_000_000_001_200);

fn main() {
    procpool::worker_entry();
    let everywhere: Vec<(&str, Test)> = vec![
        ("mpi_without_a_launcher_is_refused_in_one_line", without_launcher),
        ("mpi_with_a_mode_is_a_usage_error", with_mode),
    ];
    let under_mpirun: Vec<(&str, Test)> = vec![
        ("the_fixture_on_3_ranks_gives_the_local_verdicts_in_order", fixture),
        ("a_range_on_3_ranks_gives_the_local_verdicts_in_order", range),
        ("json_results_name_their_host_and_the_summary_is_mpi", json),
        ("a_worker_killed_on_rank_2_costs_a_retry_and_every_result_comes", worker_killed),
        ("rank_2_killed_ends_the_run_with_a_correct_prefix_and_no_process_left", rank_killed),
        ("sigint_to_mpirun_ends_the_run_with_a_correct_prefix_and_no_process_left", sigint),
        ("resume_after_a_killed_rank_or_sigint_gives_the_whole_run_in_order", resume_after_kills),
        ("resume_with_a_file_from_another_input_is_refused", resume_refuses_another_input),
    ];
    let skip = skip_reason();
    if let Some(reason) = &skip {
        eprintln!("tests/mpi.rs: the mpirun tests are skipped: {reason}");
    }
    let mut trials: Vec<Trial> = everywhere.into_iter().map(|(name, test)| Trial::test(name, test)).collect();
    trials.extend(
        under_mpirun
            .into_iter()
            .map(|(name, test)| Trial::test(name, test).with_ignored_flag(skip.is_some())),
    );
    let mut arguments = Arguments::from_args();
    // One mpirun at a time: each starts 3 ranks and their workers on 2 cores.
    arguments.test_threads = arguments.test_threads.or(Some(1));
    libtest_mimic::run(&arguments, trials).exit();
}

/// Why the mpirun tests cannot run here, if they cannot.
fn skip_reason() -> Option<String> {
    if !cfg!(feature = "mpi") {
        return Some(
            "built without the `mpi` feature (cargo test --release --features mpi --test mpi)".into(),
        );
    }
    match Command::new("mpirun").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(status) if status.success() => None,
        _ => Some("no working mpirun on PATH (apt-get install openmpi-bin libopenmpi-dev)".into()),
    }
}

fn check(condition: bool, what: impl Into<String>) -> Result<(), Failed> {
    if condition {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

/// `mpirun --oversubscribe -n 3 procpool 1 --mpi ARGS`, tagged, as root if need be.
fn mpirun(tag: &Tag, args: &[&str]) -> Command {
    let mut command = Command::new("mpirun");
    command
        .args(["--oversubscribe", "-n", "3", "-x", "PROCPOOL_TEST_TAG"])
        .arg(env!("CARGO_BIN_EXE_procpool"))
        .args(["1", "--mpi"])
        .args(args)
        .env("PROCPOOL_TEST_TAG", &tag.0)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    command
}

/// The per-number lines of a text run, as (number, prime) in order.
fn verdicts(stdout: &str) -> Vec<(u64, bool)> {
    stdout
        .lines()
        .filter_map(|line| {
            let n = line.get(..16)?.trim().parse().ok()?;
            Some((n, line.get(18..19)? == "P"))
        })
        .collect()
}

/// The same run on one machine (`--mode processes`), as verdicts.
fn local_verdicts(args: &[&str]) -> Vec<(u64, bool)> {
    let output = Command::new(env!("CARGO_BIN_EXE_procpool"))
        .args(["2", "--mode", "processes"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    verdicts(&String::from_utf8_lossy(&output.stdout))
}

fn run_to_end(tag: &Tag, args: &[&str]) -> Result<(String, String), Failed> {
    let output = mpirun(tag, args).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    check(output.status.success(), format!("{args:?} failed: {stderr}"))?;
    tag.assert_none_left();
    Ok((stdout.into_owned(), stderr.into_owned()))
}

fn without_launcher() -> Result<(), Failed> {
    let tag = Tag::new("mpi-no-launcher");
    let output = tag.std_cmd().args(["1", "--mpi"]).env_remove("OMPI_COMM_WORLD_SIZE").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    check(output.status.code() == Some(2), format!("exit {:?}: {stderr}", output.status.code()))?;
    check(stderr.lines().count() == 1, format!("one line, not: {stderr:?}"))?;
    let expected =
        if cfg!(feature = "mpi") { "needs an MPI launcher" } else { "needs a build with MPI support" };
    check(stderr.contains(expected), format!("{expected:?} in {stderr:?}"))?;
    check(output.stdout.is_empty(), "nothing on stdout")?;
    tag.assert_none_left();
    Ok(())
}

fn with_mode() -> Result<(), Failed> {
    let output = Command::new(env!("CARGO_BIN_EXE_procpool"))
        .args(["1", "--mpi", "--mode", "rayon"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    check(output.status.code() == Some(2), format!("exit {:?}", output.status.code()))?;
    check(stderr.contains("--mpi") && stderr.contains("--mode"), stderr.into_owned())
}

fn fixture() -> Result<(), Failed> {
    let tag = Tag::new("mpi-fixture");
    let (stdout, _) = run_to_end(&tag, &[])?;
    let got = verdicts(&stdout);
    check(got == FIXTURE.to_vec(), format!("{got:?}"))?;
    check(got == local_verdicts(&[]), "the local run's verdicts")?;
    check(stdout.contains("3 ranks on 1 host"), stdout.clone())?;
    // 3 workers in all (one a rank): perfect is min(workers, cores).
    let perfect = 3.min(procpool::available_cores());
    check(stdout.contains(&format!("perfect here: {perfect}.00x")), stdout)
}

fn range() -> Result<(), Failed> {
    let tag = Tag::new("mpi-range");
    let (stdout, _) = run_to_end(&tag, &["--range", "1..200001"])?;
    let got = verdicts(&stdout);
    check(got.len() == 200_000, format!("{} results", got.len()))?;
    check(got == local_verdicts(&["--range", "1..200001"]), "the local run's verdicts, in order")
}

fn json() -> Result<(), Failed> {
    let tag = Tag::new("mpi-json");
    let (stdout, _) = run_to_end(&tag, &["--json", "--kernel", "fast", "--range", "1..5001"])?;
    let objects = common::json_lines(stdout.as_bytes());
    let results: Vec<_> = objects.iter().filter(|o| o["type"] == "result").collect();
    check(results.len() == 5000, format!("{} results", results.len()))?;
    for (index, result) in results.iter().enumerate() {
        check(result["index"] == index as u64 && result["n"] == index as u64 + 1, format!("{result}"))?;
        check(result["variant"] == "mpi" && result["host"].is_string(), format!("{result}"))?;
        check(result["prime"] == Kernel::Fast.is_prime(index as u64 + 1), format!("{result}"))?;
    }
    let summary = objects.iter().find(|o| o["type"] == "summary").ok_or("no summary")?;
    check(
        summary["variant"] == "mpi" && summary["ranks"] == 3 && summary["jobs"] == 5000,
        format!("{summary}"),
    )?;
    check(summary["hosts"].as_array().is_some_and(|h| h.len() == 1), format!("{summary}"))
}

/// Pid of the tagged rank `rank` (not its fork server or workers, which
/// carry its environment too: they are its children).
fn rank_pid(tag: &Tag, rank: u32) -> Option<u32> {
    let needle = format!("OMPI_COMM_WORLD_RANK={rank}");
    let of_rank: Vec<u32> = tag
        .processes()
        .into_iter()
        .filter(|pid| {
            let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            environ.split(|&b| b == 0).any(|var| var == needle.as_bytes())
        })
        .collect();
    let parent = |pid: u32| {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        fields.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok())
    };
    of_rank.iter().copied().find(|&pid| parent(pid).is_some_and(|p| !of_rank.contains(&p)))
}

/// Starts a slow run with stdout in `out`, waits until `lines` results are
/// printed, calls `act`, and waits (at most 20 s) for mpirun to exit.
fn interfere(
    tag: &Tag,
    out: &Path,
    lines: usize,
    act: impl FnOnce(),
) -> Result<(Option<i32>, String, String), Failed> {
    interfere_with(tag, out, &[], lines, act)
}

/// [`interfere`] with more arguments for the run.
fn interfere_with(
    tag: &Tag,
    out: &Path,
    extra: &[&str],
    lines: usize,
    act: impl FnOnce(),
) -> Result<(Option<i32>, String, String), Failed> {
    let range = format!("{}..{}", SLOW_RANGE.0, SLOW_RANGE.1);
    let err = out.with_extension("err");
    let mut child = mpirun(tag, &[&["--range", &range][..], extra].concat())
        .stdout(fs::File::create(out).unwrap())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ready = Ok(());
    while fs::read_to_string(out).unwrap_or_default().lines().count() < lines + 1 {
        ready =
            check(Instant::now() < deadline, "the run printed too little to interfere with").and_then(|()| {
                check(child.try_wait().unwrap().is_none(), "the run ended before it could be interfered with")
            });
        if ready.is_err() {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    // An `act` that fails (a process it looks for is gone) must not leave the run going.
    let acted =
        if ready.is_ok() { std::panic::catch_unwind(std::panic::AssertUnwindSafe(act)) } else { Ok(()) };
    if ready.is_err() || acted.is_err() {
        let _ = child.kill();
    }
    let status = wait_guarded(&mut child, "mpirun");
    if let Err(panic) = acted {
        tag.assert_none_left_within(Duration::from_secs(5));
        std::panic::resume_unwind(panic);
    }
    ready?;
    Ok((status.code(), fs::read_to_string(out).unwrap(), fs::read_to_string(&err).unwrap()))
}

/// Every complete line is the right verdict at its place; a last line the
/// launcher cut short (it stops forwarding mid-buffer) is a prefix of its line.
fn correct_prefix(stdout: &str) -> Result<usize, Failed> {
    let mut lines = stdout.split_inclusive('\n');
    check(lines.next().is_some_and(|l| l.starts_with("Checking ")), "the header first")?;
    let mut complete = 0;
    for (n, line) in (SLOW_RANGE.0..).zip(lines.take_while(|line| !line.starts_with("Total time"))) {
        let expected = if Kernel::Fast.is_prime(n) { 'P' } else { ' ' };
        let head = format!("{n:>16}  {expected} ");
        if !line.ends_with('\n') {
            let cut = line.len().min(head.len());
            return check(head.starts_with(&line[..cut]), format!("torn line {line:?} is not {head:?}"))
                .map(|()| complete);
        }
        check(line.starts_with(&head), format!("line {complete}: {line:?} is not {head:?}..."))?;
        complete += 1;
    }
    Ok(complete)
}

fn worker_killed() -> Result<(), Failed> {
    let tag = Tag::new("mpi-worker-killed");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let (code, stdout, stderr) = interfere(&tag, &out, 50, || {
        let rank = rank_pid(&tag, 2).expect("rank 2 is running");
        let worker = common::wait_for_children(rank, 1).first().copied();
        send(worker.expect("rank 2 has a worker") as i32, Signal::SIGKILL);
    })?;
    check(code == Some(0), format!("exit {code:?}: {stderr}"))?;
    check(stderr.contains("signal 9"), format!("the death is reported: {stderr}"))?;
    let results = correct_prefix(&stdout)?;
    check(results as u64 == SLOW_RANGE.1 - SLOW_RANGE.0, format!("{results} results"))?;
    tag.assert_none_left();
    Ok(())
}

fn rank_killed() -> Result<(), Failed> {
    stopped_early("mpi-rank-killed", |tag| {
        send(rank_pid(tag, 2).expect("rank 2 is running") as i32, Signal::SIGKILL);
    })
}

fn sigint() -> Result<(), Failed> {
    stopped_early("mpi-sigint", |tag| {
        let mpirun = tag.processes().into_iter().find(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "mpirun")
        });
        send(mpirun.expect("mpirun is running") as i32, Signal::SIGINT);
    })
}

/// A slow run that `act` ends early: a nonzero exit, a correct prefix of
/// at least the 50 results seen before, and no process left anywhere.
fn stopped_early(name: &str, act: impl FnOnce(&Tag)) -> Result<(), Failed> {
    let tag = Tag::new(name);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let (code, stdout, stderr) = interfere(&tag, &out, 50, || act(&tag))?;
    check(code.is_some_and(|c| c != 0), format!("a nonzero exit, not {code:?}: {stderr}"))?;
    let results = correct_prefix(&stdout)?;
    check(results >= 50 && (results as u64) < SLOW_RANGE.1 - SLOW_RANGE.0, format!("{results} results"))?;
    tag.assert_none_left_within(Duration::from_secs(5));
    Ok(())
}

/// The results of a `--json` run, as (index, n, prime) in the order printed;
/// a torn last line (the launcher stops forwarding mid-buffer) is left out.
fn json_results(stdout: &str) -> Vec<(u64, u64, bool)> {
    stdout
        .split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|o| o["type"] == "result")
        .map(|o| (o["index"].as_u64().unwrap(), o["n"].as_u64().unwrap(), o["prime"].as_bool().unwrap()))
        .collect()
}

/// A JSON run ended early by a killed rank 2, then by SIGINT to mpirun:
/// each time `--resume` finishes it, and the finished file holds every
/// number once, in order, with the right verdict.
fn resume_after_kills() -> Result<(), Failed> {
    let tag = Tag::new("mpi-resume");
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.jsonl");
    let (code, _, stderr) = interfere_with(&tag, &first, &["--json"], 50, || {
        send(rank_pid(&tag, 2).expect("rank 2 is running") as i32, Signal::SIGKILL);
    })?;
    check(code.is_some_and(|c| c != 0), format!("a nonzero exit, not {code:?}: {stderr}"))?;
    tag.assert_none_left_within(Duration::from_secs(5));
    let second = dir.path().join("second.jsonl");
    let first_arg = first.display().to_string();
    let (code, _, stderr) = interfere_with(&tag, &second, &["--json", "--resume", &first_arg], 100, || {
        let mpirun = tag.processes().into_iter().find(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "mpirun")
        });
        send(mpirun.expect("mpirun is running") as i32, Signal::SIGINT);
    })?;
    tag.assert_none_left_within(Duration::from_secs(5));
    let interrupted = code.is_some_and(|c| c != 0);
    let second_arg = second.display().to_string();
    let range = format!("{}..{}", SLOW_RANGE.0, SLOW_RANGE.1);
    let (stdout, _) = if interrupted {
        run_to_end(&tag, &["--range", &range, "--json", "--resume", &second_arg])?
    } else {
        // The second run was quicker than the signal: it is complete already.
        (fs::read_to_string(&second).unwrap(), stderr)
    };
    let results = json_results(&stdout);
    let expected: Vec<(u64, u64, bool)> = (SLOW_RANGE.0..SLOW_RANGE.1)
        .enumerate()
        .map(|(index, n)| (index as u64, n, Kernel::Fast.is_prime(n)))
        .collect();
    check(results.len() == expected.len(), format!("{} of {} results", results.len(), expected.len()))?;
    check(results == expected, "every number once, in order, with its verdict")?;
    let summary = stdout.lines().last().unwrap_or_default();
    check(summary.contains("\"carried\":") && !summary.contains("\"carried\":0"), summary.to_string())?;
    tag.assert_none_left();
    Ok(())
}

fn resume_refuses_another_input() -> Result<(), Failed> {
    let tag = Tag::new("mpi-resume-other");
    let dir = tempfile::tempdir().unwrap();
    let (stdout, _) = run_to_end(&tag, &["--range", "1..1001", "--kernel", "fast", "--json"])?;
    let file = dir.path().join("small.jsonl");
    fs::write(&file, stdout).unwrap();
    let output = mpirun(
        &tag,
        &["--range", "1..2001", "--kernel", "fast", "--json", "--resume", &file.display().to_string()],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    check(output.status.code() == Some(2), format!("exit {:?}: {stderr}", output.status.code()))?;
    check(stderr.contains("belongs to another input"), stderr.to_string())?;
    check(!String::from_utf8_lossy(&output.stdout).contains("\"result\""), "nothing ran")?;
    tag.assert_none_left_within(Duration::from_secs(5));
    Ok(())
}
