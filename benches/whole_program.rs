//! The whole-program benchmark: each performance figure of procpool measured
//! as a ratio inside one run of this program, printed beside its target.
//!
//! Run with `cargo bench --bench whole_program` (about a minute). Each figure
//! is the median of several interleaved runs of the real release binary; the
//! machine is shared and noisy, so nothing here is a pass/fail test. Set
//! `PROCPOOL_BENCH_BASE` to another build's binary to have its start-up
//! runs interleaved with this one's and the ratio printed. The start-up
//! figures are printed beside a floor: the same forks, socket pairs,
//! messages and exits done by a bare program (see `common/kernel_floor.rs`).

#[path = "common/kernel_floor.rs"]
mod kernel_floor;
#[path = "../tests/common/peak_rss.rs"]
mod peak_rss;

use std::process::{Command, Stdio};
use std::thread;
use std::time::Instant;

use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_procpool");
const RUNS: usize = 5;

fn main() {
    if let Some(children) = std::env::var(kernel_floor::FLOOR_ENV).ok().and_then(|n| n.parse().ok()) {
        kernel_floor::run(children).expect("the kernel floor");
        return;
    }
    // `cargo bench` passes `--bench`; a name filter is not supported here.
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    println!("procpool whole-program benchmark ({cores} logical cores; a perfect speedup is {cores}x)\n");
    println!("{:<70} {:>10} {:>10} {:>10}", "figure", "measured", "target", "before");

    let thirty = std::env::temp_dir().join(format!("procpool-bench-fixture30-{}.txt", std::process::id()));
    let numbers: Vec<String> = procpool_worker::primes::FIXTURE.iter().map(|(n, _)| n.to_string()).collect();
    std::fs::write(&thirty, (numbers.join("\n") + "\n").repeat(30)).unwrap();
    let thirty_path = thirty.to_str().unwrap().to_owned();
    // "before": this bench at commit 1d025ab (the pool made general, before
    // the fork server and the chunked result path), on the same machine.
    for (label, args, target, before) in [
        (
            "fixture, fast kernel",
            vec!["2", "--quiet", "--json", "--kernel", "fast"],
            "<= 1.03",
            ["1.235", "1.275"],
        ),
        (
            "fixture, book kernel",
            vec!["2", "--quiet", "--json", "--kernel", "book"],
            "<= 1.01",
            ["1.015", "1.052"],
        ),
        (
            "fixture x30, fast kernel",
            vec!["2", "--quiet", "--json", "--kernel", "fast", "--input", &thirty_path],
            "<= 1.03",
            ["1.035", "1.051"],
        ),
    ] {
        let runs: Vec<Vec<Value>> = (0..RUNS).map(|_| json_run(&args)).collect();
        report(
            &format!("1. {label}, 2 workers: processes / rayon wall"),
            median(runs.iter().map(|r| comparison(r))),
            target,
            before[0],
        );
        report(
            &format!("1. {label}, 2 workers: processes wall / lower bound"),
            median(runs.iter().map(|r| summary(r, "processes")["wall_over_bound"].as_f64().unwrap())),
            "<= 1.03",
            before[1],
        );
    }
    let _ = std::fs::remove_file(&thirty);

    let small: Vec<Vec<Value>> = (0..RUNS)
        .map(|_| json_run(&["2", "--range", "1..1000001", "--kernel", "fast", "--quiet", "--json"]))
        .collect();
    report(
        "2. 1,000,000 small numbers, 2 workers: processes / rayon",
        median(small.iter().map(|r| comparison(r))),
        "<= 1.2",
        "1.742",
    );
    let jobs_per_s = median(small.iter().map(|r| {
        let s = summary(r, "processes");
        s["jobs"].as_f64().unwrap() / s["wall"].as_f64().unwrap()
    }));
    println!(
        "{:<70} {:>10} {:>10} {:>10}",
        "   processes jobs/s (Python's pool: ~500k, benches/python_book.py)",
        format!("{:.2}M", jobs_per_s / 1e6),
        "",
        "10.84M"
    );

    // Workers from the early fork server (the default) and executed one by
    // one (PROCPOOL_FORK_SERVER=0, how every worker started before), runs of
    // both interleaved; the marginal cost of a worker is the slope from
    // cores + 2 workers to 16.
    // With PROCPOOL_BENCH_BASE=/path/to/procpool (another build, e.g. main
    // before a change), that binary's runs are interleaved with these too.
    let few = cores + 2;
    let base = std::env::var_os("PROCPOOL_BENCH_BASE");
    let start = |exe: &std::ffi::OsStr, workers: usize, fork_server: bool| {
        let range = format!("1..{}", workers + 1);
        let started = Instant::now();
        let status = Command::new(exe)
            .args([&workers.to_string(), "--mode", "processes", "--range", &range, "--quiet"])
            .env("PROCPOOL_FORK_SERVER", if fork_server { "1" } else { "0" })
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        started.elapsed().as_secs_f64() * 1e3
    };
    // The same work less procpool's own (see `kernel_floor`), this bench
    // executed again, interleaved with the rest.
    let own = std::env::current_exe().unwrap();
    let floor = |children: usize| {
        let started = Instant::now();
        let status = Command::new(&own).env(kernel_floor::FLOOR_ENV, children.to_string()).status().unwrap();
        assert!(status.success());
        started.elapsed().as_secs_f64() * 1e3
    };
    // [executed, fork server, baseline's fork server, floor][few or 16 workers].
    // The executed runs get a loop of their own: 16 execs at once slow
    // down the runs just after them, which would blur the comparison of
    // this build's fork server with the baseline's.
    let mut times: [[Vec<f64>; 2]; 4] = Default::default();
    for _ in 0..40 {
        for (f, exe) in [(1, EXE.as_ref())].into_iter().chain(base.as_deref().map(|base| (2, base))) {
            for (w, workers) in [(0, few), (1, 16)] {
                times[f][w].push(start(exe, workers, true));
            }
        }
        for (w, workers) in [(0, few), (1, 16)] {
            times[3][w].push(floor(workers));
        }
    }
    for _ in 0..10 {
        for (w, workers) in [(0, few), (1, 16)] {
            times[0][w].push(start(EXE.as_ref(), workers, false));
        }
    }
    let ms = |f: usize, w: usize| median(times[f][w].iter().copied());
    let slope = |f: usize| (ms(f, 1) - ms(f, 0)) / (16 - few) as f64;
    report(
        "3. 16 workers started, handshaken, 16 jobs, exited (ms), fork server",
        ms(1, 1),
        "<= 5",
        "21.228",
    );
    report("3. same, every worker executed (PROCPOOL_FORK_SERVER=0, as before)", ms(0, 1), "<= 20", "21.228");
    report(
        &format!("3. marginal cost of a worker ({few} to 16 workers, ms), fork server"),
        slope(1),
        "<= 0.2",
        "",
    );
    report("3. same, every worker executed", slope(0), "", "");
    report("3. 16 workers: executed / fork server", ms(0, 1) / ms(1, 1), "", "");
    report("3. kernel floor: 16 children forked, handshaken, 1 job each, reaped (ms)", ms(3, 1), "", "");
    report(&format!("3. kernel floor: marginal cost of a child ({few} to 16, ms)"), slope(3), "", "");
    report("3. 16 workers: fork server / kernel floor", ms(1, 1) / ms(3, 1), "", "");
    if let Some(base) = &base {
        println!("   baseline {}, its runs interleaved with these:", base.to_string_lossy());
        report("3. baseline: 16 workers (ms), fork server", ms(2, 1), "", "");
        report(&format!("3. baseline: marginal cost of a worker ({few} to 16, ms)"), slope(2), "", "");
        report("3. 16 workers: this build / baseline", ms(1, 1) / ms(2, 1), "< 1", "");
    }

    let kernel = median((0..3).map(|_| {
        let wall = |kernel| {
            let run = json_run(&["1", "--mode", "sequential", "--kernel", kernel, "--quiet", "--json"]);
            summary(&run, "sequential")["wall"].as_f64().unwrap()
        };
        wall("book") / wall("fast")
    }));
    report("4. fixture, sequential: book kernel wall / fast kernel wall", kernel, ">= 5", "24.151");

    let rss_small = peak_rss_mib(1_000_000);
    let rss_large = peak_rss_mib(10_000_000);
    report("5. peak RSS, 1,000,000 numbers via --input - (MiB)", rss_small, "<= 50", "9.582");
    report("5. peak RSS, 10,000,000 numbers via --input - (MiB)", rss_large, "<= 50, flat", "9.930");
}

/// One row: the figure, its value now, its target, and its value before
/// (see the comment above the fixture rows).
fn report(figure: &str, value: f64, target: &str, before: &str) {
    println!("{figure:<70} {value:>10.3} {target:>10} {before:>10}");
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn json_run(args: &[&str]) -> Vec<Value> {
    let output = Command::new(EXE).args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn summary<'a>(objects: &'a [Value], variant: &str) -> &'a Value {
    objects.iter().find(|o| o["type"] == "summary" && o["variant"] == variant).expect("summary")
}

fn comparison(objects: &[Value]) -> f64 {
    objects.iter().find(|o| o["type"] == "comparison").unwrap()["processes_over_rayon"].as_f64().unwrap()
}

/// Peak resident set of the supervisor (or of its largest worker, if larger)
/// while `count` numbers stream through stdin in processes mode.
fn peak_rss_mib(count: u64) -> f64 {
    let mut command = Command::new(EXE);
    command.args(["2", "--input", "-", "--mode", "processes", "--kernel", "fast", "--quiet"]);
    let run = peak_rss::run_with_numbers_on_stdin(command, count);
    assert!(run.success && String::from_utf8_lossy(&run.stdout).contains("Total time"));
    run.peak_rss_kib as f64 / 1024.0
}
