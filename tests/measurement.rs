//! Sweep, charts, machine-readable output and progress, against the real binary.

mod common;

use common::{json_lines, Tag};

/// Parses an SVG file and returns every piece of text it shows.
fn svg_texts(path: &std::path::Path) -> Vec<String> {
    let svg = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&svg)
        .unwrap_or_else(|e| panic!("{} is not well-formed: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text().map(str::to_owned)).collect()
}

/// Runs `args` followed by the path of a fresh chart file; returns (stdout, chart path, its dir).
fn run_with_chart(tag: &Tag, args: &[&str], name: &str) -> (Vec<u8>, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join(name);
    let output = tag.cmd().args(args).arg(&chart).assert().success().get_output().stdout.clone();
    (output, chart, dir)
}

#[test]
fn sweep_prints_a_side_by_side_table_and_draws_the_chart() {
    let tag = Tag::new("sweep");
    let (output, chart, _dir) = run_with_chart(&tag, &["sweep", "3", "--runs", "2", "--plot"], "speedup.svg");
    let text = String::from_utf8(output).unwrap();
    assert!(text.contains("processes") && text.contains("rayon") && text.contains("K-F"), "{text}");
    // Its baseline is labelled so it is not mistaken for a normal run's one-core time.
    assert!(text.contains("speedup = wall at 1 worker / wall at p, same variant"), "{text}");
    assert!(text.contains("not a normal run's one-core time"), "{text}");
    for workers in 1..=3 {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(&format!("{workers} "))),
            "no row for {workers}: {text}"
        );
    }
    let texts = svg_texts(&chart).join("\n");
    for series in ["processes (median", "rayon (median", "ideal", "cores on this machine", "hardware limit"] {
        assert!(texts.contains(series), "chart lacks {series:?}: {texts}");
    }
    tag.assert_none_left();
}

#[test]
fn sweep_csv_and_json() {
    let tag = Tag::new("sweep-data");
    let csv =
        tag.cmd().args(["sweep", "2", "--runs", "1", "--csv"]).assert().success().get_output().stdout.clone();
    let csv = String::from_utf8(csv).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "workers",
            "variant",
            "runs",
            "wall_median",
            "wall_min",
            "wall_max",
            "speedup",
            "efficiency",
            "karp_flatt"
        ]
    );
    assert_eq!(rows.len(), 5, "{csv}");
    for row in &rows[1..] {
        assert_eq!(row.len(), 9);
        let speedup: f64 = row[6].parse().unwrap();
        if row[0] == "1" {
            assert_eq!(speedup, 1.0);
            assert_eq!(row[8], "", "Karp-Flatt is undefined at one worker");
        } else {
            row[8].parse::<f64>().unwrap();
        }
    }

    let json = tag
        .cmd()
        .args(["sweep", "2", "--runs", "1", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc = &json_lines(&json)[0];
    assert_eq!(doc["type"], "sweep");
    assert_eq!(doc["speedup_over"], "the same variant at 1 worker");
    assert!(doc["others_busy"].is_null() || doc["others_busy"].as_f64().is_some(), "{doc}");
    assert!(doc.as_object().unwrap().contains_key("others_busy"));
    assert_eq!(doc["jobs"], 20);
    for field in ["usable_cores", "logical_cpus", "os", "procpool_version"] {
        assert!(!doc["machine"][field].is_null(), "machine lacks {field}");
    }
    let points = doc["points"].as_array().unwrap();
    assert_eq!(points.len(), 4);
    assert!(points.iter().any(|p| p["variant"] == "rayon" && p["workers"] == 2));
    tag.assert_none_left();
}

#[test]
fn timeline_has_a_lane_per_worker_and_marks_the_bounds() {
    let tag = Tag::new("timeline");
    let args = ["3", "--mode", "processes", "--kernel", "book", "--json", "--timeline"];
    let (output, chart, _dir) = run_with_chart(&tag, &args, "timeline.svg");
    let pids: std::collections::BTreeSet<u64> = json_lines(&output)
        .iter()
        .filter(|o| o["type"] == "result")
        .map(|o| o["pid"].as_u64().unwrap())
        .collect();
    let texts = svg_texts(&chart).join("\n");
    for pid in pids {
        assert!(texts.contains(&format!("pid {pid}")), "no lane for worker {pid}");
    }
    assert!(texts.contains("lower bound") && texts.contains("makespan"), "{texts}");
    tag.assert_none_left();
}

#[test]
fn piped_stderr_gets_no_progress_bar_or_escape_codes() {
    let tag = Tag::new("progress");
    let output = tag.cmd().args(["2", "--range", "1..300000"]).assert().success().get_output().clone();
    assert!(!output.stderr.contains(&0x1b) && !output.stdout.contains(&0x1b));
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
    tag.assert_none_left();
}

#[test]
fn a_terminal_gets_a_bar_once_a_run_of_a_few_hundred_slow_jobs_passes_a_second() {
    // 600 numbers of about 10 ms each (some 3 s on two cores). Before, the
    // clock was read only for the first 64 jobs and at every 4096th, so a
    // run of a few hundred slow jobs never showed its bar.
    use std::io::Read;
    let tag = Tag::new("bar");
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut master = std::fs::File::from(pty.master);
    let mut child = tag
        .std_cmd()
        .args(["2", "--mode", "processes", "--range", "100000000000000000..100000000000000600"])
        .env("TERM", "xterm")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::from(pty.slave))
        .spawn()
        .unwrap();
    // The terminal's other end closes with the run: a read then fails (EIO).
    let reader = std::thread::spawn(move || {
        let (mut seen, mut buffer) = (Vec::new(), [0u8; 4096]);
        while let Ok(n @ 1..) = master.read(&mut buffer) {
            seen.extend_from_slice(&buffer[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    assert!(common::wait_guarded(&mut child, "a run on a terminal").success());
    let seen = reader.join().unwrap();
    assert!(seen.contains("processes x2 [") && seen.contains("/600 ("), "no bar on the terminal: {seen:?}");
    tag.assert_none_left();
}

#[test]
fn completions_for_bash() {
    let tag = Tag::new("completions");
    let script = tag.cmd().args(["completions", "bash"]).assert().success().get_output().stdout.clone();
    let script = String::from_utf8(script).unwrap();
    assert!(script.contains("procpool") && script.contains("sweep") && script.contains("--timeline"));
}
