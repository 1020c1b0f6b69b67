//! Protocol hygiene, against misbehaving peers. This test binary has no
//! libtest harness because it doubles as a fake worker: the pool under test
//! starts it with the worker flag, and it misbehaves as `FAKE_WORKER` says.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use ipc_channel::ipc::{self, IpcOneShotServer, IpcSender};
use procpool::{JobError, Kernel, PoolError, PrimeCheck, ProcessPool};
use procpool_worker::build_id::build_id;
use procpool_worker::protocol::{
    self, Frame, Hello, JobBatch, Reply, Setup, PROTOCOL_VERSION, TOKEN_BYTES, WORKER_FLAG,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(WORKER_FLAG) {
        fake_worker(&args[2], &std::env::var("FAKE_WORKER").unwrap_or_default());
        return;
    }
    let tests: [(&str, fn()); 10] = [
        ("a_worker_whose_parent_is_not_its_supervisor_exits_at_once", orphan_exits_at_once),
        ("a_worker_dying_in_its_handshake_fails_the_start", a_worker_dying_in_its_handshake_fails_the_start),
        ("a_worker_speaking_another_protocol_version_is_rejected", another_version_is_rejected),
        ("a_worker_of_another_build_is_rejected", another_build_is_rejected),
        ("a_peer_without_the_secret_is_rejected", a_peer_without_the_secret_is_rejected),
        ("a_real_worker_refuses_a_setup_from_another_build", real_worker_refuses_another_build),
        ("a_garbage_reply_fails_the_run_instead_of_hanging", garbage_reply_fails_the_run),
        ("a_reply_for_the_wrong_job_is_a_protocol_violation", wrong_index_is_a_violation),
        ("a_real_worker_rejects_a_frame_that_is_not_a_job_batch", real_worker_rejects_garbage),
        ("a_real_worker_exits_cleanly_when_its_channel_closes", real_worker_exits_on_eof),
    ];
    // libtest-mimic gives the standard `test ... ok` lines and `test result:`
    // summary (and --list, filters) without libtest, which would not let this
    // binary double as a fake worker. One at a time: the tests share FAKE_WORKER.
    let mut arguments = libtest_mimic::Arguments::from_args();
    arguments.test_threads = Some(1);
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            libtest_mimic::Trial::test(name, move || {
                test();
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&arguments, trials).exit();
}

/// Shakes hands (possibly lying about its version, build or secret) and answers jobs badly.
fn fake_worker(server: &str, behaviour: &str) {
    let mut token = vec![0; TOKEN_BYTES];
    std::io::stdin().read_exact(&mut token).unwrap();
    if behaviour == "die" {
        std::process::exit(3);
    }
    if behaviour == "token" {
        token[0] ^= 1;
    }
    let hello_tx: IpcSender<Hello> = IpcSender::connect(server.to_owned()).unwrap();
    let (jobs_tx, jobs_rx) = ipc::channel::<Frame>().unwrap();
    let (results_tx, results_rx) = ipc::channel::<Frame>().unwrap();
    let protocol = if behaviour == "version" { PROTOCOL_VERSION + 998 } else { PROTOCOL_VERSION };
    let build_id = if behaviour == "build" { b"another build".to_vec() } else { build_id().to_vec() };
    let pid = std::process::id();
    hello_tx.send(Hello { protocol, pid, build_id, token, jobs: jobs_tx, results: results_rx }).unwrap();
    let _setup: Setup = protocol::decode(&jobs_rx.recv().unwrap()).unwrap();
    while let Ok(frame) = jobs_rx.recv() {
        let batch: JobBatch<PrimeCheck> = protocol::decode(&frame).unwrap();
        let reply = match behaviour {
            "garbage" => Frame(vec![0xff; 7]),
            _ => protocol::encode(&Reply::<bool> {
                first_index: batch.first_index + 1000,
                cpu_share: 1.0,
                started_ns: 0,
                elapsed_ns: 0,
                timings: vec![0], // one job, 0 ns, no panic
                outputs: vec![true],
                failures: vec![],
            })
            .unwrap(),
        };
        let _ = results_tx.send(reply);
    }
}

/// Starts a pool of fake workers, with its handshake sockets in a TMPDIR of
/// its own, which must be empty again once the start has failed or worked.
fn pool_of_fakes(behaviour: &str) -> Result<ProcessPool<PrimeCheck>, PoolError> {
    let tmpdir = tempfile::tempdir().unwrap();
    let before = std::env::var_os("TMPDIR");
    // SAFETY: this harness-less test runs its tests one at a time on one thread.
    unsafe {
        std::env::set_var("FAKE_WORKER", behaviour);
        std::env::set_var("TMPDIR", tmpdir.path());
    }
    let pool = ProcessPool::builder().program(std::env::current_exe().unwrap()).workers(2).build();
    // SAFETY: as above.
    unsafe {
        match before {
            Some(value) => std::env::set_var("TMPDIR", value),
            None => std::env::remove_var("TMPDIR"),
        }
    }
    let left: Vec<_> = std::fs::read_dir(tmpdir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "{behaviour}: left in TMPDIR: {left:?}");
    pool
}

fn a_worker_dying_in_its_handshake_fails_the_start() {
    let error = pool_of_fakes("die").expect_err("the start must fail");
    assert!(matches!(error, PoolError::DiedAtStartup { .. }), "{error}");
    assert!(error.to_string().contains("exited with code 3 before completing the handshake"), "{error}");
}

fn another_version_is_rejected() {
    let error = pool_of_fakes("version").expect_err("the handshake must fail");
    match error {
        PoolError::ProtocolMismatch { theirs, ours, .. } => {
            assert_eq!((theirs, ours), (PROTOCOL_VERSION + 998, PROTOCOL_VERSION))
        }
        other => panic!("unexpected {other}"),
    }
}

fn another_build_is_rejected() {
    let error = pool_of_fakes("build").expect_err("the handshake must fail");
    assert!(matches!(error, PoolError::BuildMismatch { .. }), "{error}");
    assert!(error.to_string().contains("rebuilt or replaced"), "{error}");
}

fn a_peer_without_the_secret_is_rejected() {
    let error = pool_of_fakes("token").expect_err("the handshake must fail");
    assert!(error.to_string().contains("not the worker this pool started"), "{error}");
}

fn first_error(behaviour: &str) -> std::sync::Arc<PoolError> {
    let pool = pool_of_fakes(behaviour).unwrap();
    let jobs = [5u64, 6, 7].map(|n| PrimeCheck { n, kernel: Kernel::Fast });
    let outcome: Result<Vec<bool>, JobError> = pool.map(jobs).collect();
    let error = outcome.expect_err("the run must fail");
    match error {
        JobError::Pool(error) => error,
        other => panic!("expected a pool error, got {other}"),
    }
}

fn garbage_reply_fails_the_run() {
    let error = first_error("garbage");
    assert!(matches!(*error, PoolError::BadFrame { .. }), "{error}");
    assert!(error.to_string().contains("sent a bad frame"), "{error}");
}

fn wrong_index_is_a_violation() {
    let error = first_error("wrong-index");
    assert!(matches!(*error, PoolError::ProtocolViolation(_)), "{error}");
}

/// Plays supervisor to a real worker process up to the handshake; returns
/// the worker's job sender and process.
fn real_worker() -> (IpcSender<Frame>, std::process::Child) {
    let (server, name) = IpcOneShotServer::<Hello>::new().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_procpool"))
        .args([WORKER_FLAG, &name, &std::process::id().to_string()])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&[7; TOKEN_BYTES]).unwrap();
    let (_, hello) = server.accept().unwrap();
    assert_eq!(hello.protocol, PROTOCOL_VERSION);
    assert_eq!(hello.pid, child.id());
    assert_eq!(hello.token, [7; TOKEN_BYTES], "the worker returns the secret it was handed");
    (hello.jobs, child)
}

fn real_worker_refuses_another_build() {
    let (jobs, child) = real_worker();
    let setup = Setup {
        build_id: b"not this build".to_vec(),
        job_type: "x".into(),
        serve: 0,
        init: None,
        reply_every_job: true,
    };
    jobs.send(protocol::encode(&setup).unwrap()).unwrap();
    let output = wait_output(child);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("is not the supervisor's build"), "{stderr}");
}

fn real_worker_rejects_garbage() {
    let (jobs, child) = real_worker();
    jobs.send(Frame(b"this is not a job batch".to_vec())).unwrap();
    let output = wait_output(child);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("bad frame from the supervisor"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

fn real_worker_exits_on_eof() {
    let (jobs, child) = real_worker();
    drop(jobs);
    let output = wait_output(child);
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stderr.is_empty());
}

fn orphan_exits_at_once() {
    // Pid 1 is never our parent: as if the supervisor died before the worker set PR_SET_PDEATHSIG.
    let child = Command::new(env!("CARGO_BIN_EXE_procpool"))
        .args([WORKER_FLAG, "/nonexistent/socket", "1"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_output(child);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("supervisor 1 is gone"));
}

fn wait_output(child: std::process::Child) -> std::process::Output {
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    for _ in 0..500 {
        if waiter.is_finished() {
            return waiter.join().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("worker {pid} did not exit");
}
