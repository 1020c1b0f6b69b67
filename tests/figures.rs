//! What a first run shows: the book's kernel by default, figures that are
//! never better than the machine allows without a caveat, readable digits
//! for tiny runs, and English that agrees with 1.

mod common;

use common::{json_lines, Tag};

fn stdout(tag: &Tag, args: &[&str]) -> String {
    let output = tag.cmd().args(args).assert().success().get_output().stdout.clone();
    String::from_utf8(output).unwrap()
}

#[test]
fn the_default_kernel_is_the_books_loop() {
    let tag = Tag::new("default-kernel");
    let text = stdout(&tag, &["2", "--quiet"]);
    assert!(text.contains("kernel book"), "{text}");
    let sweep = stdout(&tag, &["sweep", "1", "--runs", "1", "--json"]);
    assert_eq!(json_lines(sweep.as_bytes())[0]["kernel"], "book");
    tag.assert_none_left();
}

#[test]
fn efficiency_counts_the_cores_the_run_could_use_and_karp_flatt_uses_the_same_p() {
    let tag = Tag::new("efficiency");
    let output = tag.cmd().args(["4", "--quiet", "--json", "--mode", "rayon"]).assert().success();
    let objects = json_lines(&output.get_output().stdout);
    let summary = objects.iter().find(|o| o["type"] == "summary").unwrap();
    let p = summary["cores"].as_u64().unwrap().min(4) as f64;
    let speedup = summary["speedup"].as_f64().unwrap();
    let efficiency = summary["efficiency"].as_f64().unwrap();
    assert!((efficiency - speedup / p).abs() < 1e-9, "{summary}");
    if p > 1.0 {
        let karp_flatt = (1.0 / speedup - 1.0 / p) / (1.0 - 1.0 / p);
        assert!((summary["karp_flatt"].as_f64().unwrap() - karp_flatt).abs() < 1e-9, "{summary}");
    }
    let text = stdout(&tag, &["4", "--quiet", "--mode", "rayon"]);
    assert!(text.contains(&format!("% of {p} cores")) || text.contains("% of 1 core"), "{text}");
    tag.assert_none_left();
}

#[test]
fn mode_all_takes_the_best_of_several_sequential_runs_after_a_warm_up() {
    let tag = Tag::new("baseline");
    let text = stdout(&tag, &["2", "--mode", "all", "--quiet", "--kernel", "fast"]);
    assert!(text.contains("one core = ") && text.contains("the best of 3 runs after a warm-up"), "{text}");
    assert!(text.contains("the best of 3 sequential runs after a warm-up"), "{text}");
    // Any speedup above the possible carries a note naming the noise.
    for line in text.lines().filter(|l| l.trim_start().starts_with("speedup ")) {
        let speedup: f64 = line.split_whitespace().nth(1).unwrap().trim_end_matches('x').parse().unwrap();
        let perfect: f64 = line.split("perfect here: ").nth(1).unwrap()[..4].parse().unwrap();
        if speedup > perfect {
            assert!(text.contains("timing noise"), "{text}");
        }
    }
    let json =
        tag.cmd().args(["2", "--mode", "all", "--quiet", "--json", "--kernel", "fast"]).assert().success();
    let objects = json_lines(&json.get_output().stdout);
    let sequential = objects.iter().find(|o| o["variant"] == "sequential").unwrap();
    assert_eq!(sequential["one_core_runs"], 3);
    assert_eq!(sequential["one_core"], sequential["wall"]);
    // The other variants' speedups use that same time, and say it is a best of 3 too.
    let summaries: Vec<_> = objects.iter().filter(|o| o["type"] == "summary").collect();
    assert_eq!(summaries.len(), 3, "{objects:?}");
    for summary in summaries {
        assert_eq!(summary["one_core"], sequential["one_core"], "{summary}");
        assert_eq!(summary["one_core_source"], "measured", "{summary}");
        assert_eq!(summary["one_core_runs"], 3, "{summary}");
    }
    tag.assert_none_left();
}

#[test]
fn tiny_runs_print_readable_digits() {
    let tag = Tag::new("tiny");
    let text = stdout(&tag, &["2", "--range", "1..5", "--kernel", "fast", "--quiet"]);
    let wall = text.lines().find(|l| l.trim_start().starts_with("wall ")).unwrap();
    assert!(!wall.contains("0.000s"), "{wall}");
    assert!(wall.contains(" ms"), "{wall}");
    tag.assert_none_left();
}

#[test]
fn one_is_singular() {
    let tag = Tag::new("singular");
    let text = stdout(&tag, &["1", "--range", "7..8"]);
    for phrase in ["Checking 1 number with 1 process:", "1 worker pid took part", "CPU time / 1 core)"] {
        assert!(text.contains(phrase), "lacks {phrase:?}: {text}");
    }
    assert!(text.contains("With 1 worker on ") && text.contains("a perfect speedup is 1.00x"), "{text}");
    for wrong in ["1 numbers", "1 worker pids", "1 cores", "1 processes"] {
        assert!(!text.contains(wrong), "says {wrong:?}: {text}");
    }
    tag.assert_none_left();
}

#[test]
fn runs_that_did_different_work_get_no_processes_over_rayon_ratio() {
    // The processes run gives up on the slow prime after its timeout; the
    // rayon run has none and checks it. Before, the table said
    // "processes / rayon = 0.296 (processes took 70.4% less than threads)".
    let tag = Tag::new("not-compared");
    // A prime of about 1 s with the book kernel.
    let input = common::input_file(&["7", "1000000000000000003"]);
    let path = input.path().to_str().unwrap();
    let args = ["2", "--input", path, "--timeout", "0.2", "--retries", "0", "--kernel", "book"];
    let text = tag.cmd().args(args).assert().code(1).get_output().stdout.clone();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("processes / rayon: not compared, the runs did different work"), "{text}");
    assert!(!text.contains("processes / rayon ="), "{text}");
    let json = tag.cmd().args(args).arg("--json").assert().code(1).get_output().stdout.clone();
    let objects = json_lines(&json);
    let comparison = objects.iter().find(|o| o["type"] == "comparison").unwrap();
    assert!(comparison["processes_over_rayon"].is_null(), "{comparison}");
    // The same work in both: a ratio.
    let same = stdout(&tag, &["2", "--kernel", "fast", "--quiet"]);
    assert!(same.contains("processes / rayon = "), "{same}");
    tag.assert_none_left();
}
