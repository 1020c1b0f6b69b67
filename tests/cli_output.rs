//! The default run's output, line by line, against the real binary.

mod common;

use common::{json_lines, Tag, FIXTURE};

#[test]
fn default_run_prints_the_book_format_in_submission_order_then_the_comparison() {
    let tag = Tag::new("default");
    let output = tag.cmd().arg("2").assert().success().get_output().stdout.clone();
    let text = String::from_utf8(output).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Checking 20 numbers with 2 processes:");
    for (line, &(n, prime)) in lines[1..21].iter().zip(FIXTURE.iter()) {
        let expected_prefix = format!("{n:>16}  {} ", if prime { 'P' } else { ' ' });
        assert!(line.starts_with(&expected_prefix), "{line:?} should start with {expected_prefix:?}");
        let seconds = line[expected_prefix.len()..].trim().strip_suffix('s').unwrap();
        assert_eq!(seconds.trim().split_once('.').unwrap().1.len(), 6, "{line:?}");
        assert!(seconds.trim().parse::<f64>().unwrap() >= 0.0);
    }
    assert!(lines[21].starts_with("Total time: ") && lines[21].ends_with('s'), "{}", lines[21]);
    assert!(text.contains("Checking 20 numbers with 2 rayon threads:"));
    assert!(text.contains("Comparison ("));
    assert!(text.contains("processes / rayon = "));
    assert!(text.contains("derived"), "the one-core figure must say how it was obtained");
    assert_eq!(text.matches("Total time: ").count(), 2);
    tag.assert_none_left();
}

#[test]
fn mode_all_measures_one_core() {
    let tag = Tag::new("all");
    let output =
        tag.cmd().args(["2", "--mode", "all", "--quiet"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(output).unwrap();
    assert!(text.contains("the best of 3 sequential runs after a warm-up"), "{text}");
    assert_eq!(text.matches("Total time: ").count(), 3);
    tag.assert_none_left();
}

#[test]
fn quiet_prints_no_number_lines() {
    let tag = Tag::new("quiet");
    let output = tag.cmd().args(["2", "--quiet"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(output).unwrap();
    assert!(!text.contains("9999999999999917"), "{text}");
    assert!(text.contains("Total time: "));
    tag.assert_none_left();
}

#[test]
fn json_has_a_result_per_number_and_a_summary_per_variant_and_runs_in_other_processes() {
    let tag = Tag::new("json");
    let output = tag.cmd().args(["2", "--json"]).assert().success().get_output().stdout.clone();
    let objects = json_lines(&output);
    let results: Vec<_> = objects.iter().filter(|o| o["type"] == "result").collect();
    assert_eq!(results.len(), 40, "20 results for each of processes and rayon");
    for variant in ["processes", "rayon"] {
        let ours: Vec<_> = results.iter().filter(|o| o["variant"] == variant).collect();
        for (i, (object, &(n, prime))) in ours.iter().zip(FIXTURE.iter()).enumerate() {
            assert_eq!(object["index"], i as u64);
            assert_eq!(object["n"], n);
            assert_eq!(object["prime"], prime);
            assert!(object["elapsed"].as_f64().unwrap() >= 0.0);
        }
        let summary = objects.iter().find(|o| o["type"] == "summary" && o["variant"] == variant).unwrap();
        assert_eq!(summary["jobs"], 20);
        assert_eq!(summary["workers"], 2);
        for field in ["wall", "speedup", "efficiency", "lower_bound", "wall_over_bound", "one_core"] {
            assert!(summary[field].as_f64().is_some(), "summary lacks {field}");
        }
    }
    let supervisor_pid = results.iter().find(|o| o["variant"] == "rayon").unwrap()["pid"].as_u64().unwrap();
    let worker_pids: std::collections::BTreeSet<u64> =
        results.iter().filter(|o| o["variant"] == "processes").map(|o| o["pid"].as_u64().unwrap()).collect();
    assert!(!worker_pids.contains(&supervisor_pid), "processes results ran in the supervisor");
    assert!(worker_pids.len() > 1, "only one worker took part: {worker_pids:?}");
    assert!(objects.iter().any(|o| o["type"] == "comparison"));
    tag.assert_none_left();
}

#[test]
fn help_and_version() {
    let tag = Tag::new("help");
    let help = tag.cmd().arg("--help").assert().success().get_output().stdout.clone();
    let help = String::from_utf8(help).unwrap();
    for flag in [
        "--input",
        "--range",
        "--mode",
        "--kernel",
        "--quiet",
        "--json",
        "--retries",
        "--timeout",
        "procpool 12",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    tag.cmd()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicates::str::contains(env!("CARGO_PKG_VERSION")));
}

/// A line with every number masked, milliseconds written as seconds, runs
/// of spaces as one, and what depends on the machine or the moment left out,
/// so two real runs of the same command on any machine compare equal.
fn shape(line: &str) -> String {
    let mut masked = String::new();
    for c in line.chars() {
        if !c.is_ascii_digit() {
            masked.push(c);
        } else if !masked.ends_with('#') {
            masked.push('#');
        }
    }
    let masked =
        masked.replace("#.# ms", "#.#s").replace(" (oversubscribed #:#)", "").replace(" less ", " longer ");
    masked.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_readmes_first_sample_is_what_the_default_command_prints() {
    let readme = include_str!("../README.md");
    let section = readme.split("## A real run").nth(1).unwrap();
    let sample = section.split("```").nth(1).unwrap();
    let tag = Tag::new("readme");
    let output = tag.cmd().arg("12").assert().success().get_output().stdout.clone();
    let real = String::from_utf8(output).unwrap();
    // Notes come and go with the machine's load; everything else must match.
    let shapes = |text: &str| -> Vec<String> {
        text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("  note:")).map(shape).collect()
    };
    assert_eq!(shapes(sample), shapes(&real), "README sample:\n{sample}\nreal output:\n{real}");
    tag.assert_none_left();
}
