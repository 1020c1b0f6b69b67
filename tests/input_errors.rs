//! Bad input of every kind: exit code 2 and one line naming the source, the
//! line and the text; whatever was printed before it is correct.

mod common;

use common::{input_file, Tag};
use predicates::prelude::*;

/// Runs with `lines` as the input file; returns (stdout, the one stderr line, file path).
fn run_bad(tag: &Tag, lines: &[&str]) -> (String, String, String) {
    let file = input_file(lines);
    let path = file.path().display().to_string();
    let output =
        tag.cmd().args(["2", "--mode", "processes", "--input", &path]).assert().code(2).get_output().clone();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "want one line, got {stderr:?}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
    (String::from_utf8(output.stdout).unwrap(), stderr.trim_end().to_owned(), path)
}

#[test]
fn each_malformed_class_names_source_line_and_text() {
    let tag = Tag::new("bad-lines");
    let long = "9".repeat(10_000);
    let cases: Vec<(&str, &str)> = vec![
        ("-5", "signs"),
        ("+5", "signs"),
        ("abc", "not a decimal number"),
        ("12.5", "not a whole number"),
        ("0x1F", "hex"),
        ("18446744073709551616", "out of range"),
        ("99999999999999999999999999999999", "out of range"),
        ("1 2", "more than one number"),
        (&long, "longer than"),
    ];
    for (text, reason) in cases {
        let (stdout, stderr, path) = run_bad(&tag, &["7", "# comment", "", text, "11"]);
        let shown: String = text.chars().take(20).collect();
        assert!(stderr.starts_with(&format!("procpool: {path}:4: ")), "{stderr}");
        assert!(stderr.contains(reason), "{text:?}: {stderr}");
        assert!(stderr.contains(&shown), "{stderr} should quote {shown}");
        // The good line before the bad one was checked and printed, the one after was not.
        assert!(stdout.contains("               7  P "), "{stdout}");
        assert!(!stdout.contains("              11  P "), "{stdout}");
    }
    tag.assert_none_left();
}

#[test]
fn binary_garbage_is_an_input_error() {
    let tag = Tag::new("garbage");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"5\n\xff\xfe\x00garbage\n").unwrap();
    tag.cmd()
        .args(["2", "--mode", "sequential", "--input"])
        .arg(file.path())
        .assert()
        .code(2)
        // The bytes that are not UTF-8 shown as bytes, not as replacement characters.
        .stderr(predicate::str::contains(r#":2: not valid UTF-8 text: "\xff\xfe\0garbage""#));
}

#[test]
fn crlf_and_whitespace_are_fine() {
    let tag = Tag::new("crlf");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"  7\r\n\t11 \r\n").unwrap();
    tag.cmd().args(["2", "--mode", "processes", "--input"]).arg(file.path()).assert().success().stdout(
        predicate::str::contains("               7  P ")
            .and(predicate::str::contains("              11  P ")),
    );
    tag.assert_none_left();
}

#[test]
fn stdin_input_and_its_errors() {
    let tag = Tag::new("stdin");
    tag.cmd()
        .args(["2", "--input", "-", "--mode", "processes"])
        .write_stdin("4\n5\n")
        .assert()
        .success()
        .stdout(
            predicate::str::contains("               4     ")
                .and(predicate::str::contains("               5  P ")),
        );
    // With several variants stdin is read up front: the numbers before the bad
    // line still run (once), then the error.
    tag.cmd()
        .args(["2", "--input", "-"])
        .write_stdin("4\nfive\n")
        .assert()
        .code(2)
        .stdout(predicate::str::contains("               4     "))
        .stderr(predicate::str::diff("procpool: <stdin>:2: not a decimal number: \"five\"\n"));
    tag.assert_none_left();
}

#[test]
fn a_bad_first_stdin_line_is_named_in_every_mode() {
    let tag = Tag::new("stdin-first-line");
    for mode in ["compare", "all", "processes"] {
        for (input, message) in [
            ("abc\n97\n", "<stdin>:1: not a decimal number: \"abc\""),
            ("18446744073709551616\n", "<stdin>:1: out of range (the largest allowed is 18446744073709551615): \"18446744073709551616\""),
        ] {
            tag.cmd()
                .args(["2", "--input", "-", "--mode", mode])
                .write_stdin(input)
                .assert()
                .code(2)
                .stderr(predicate::str::diff(format!("procpool: {message}\n")));
        }
    }
    tag.assert_none_left();
}

#[test]
fn empty_missing_and_unreadable_inputs() {
    let tag = Tag::new("sources");
    let empty = input_file(&["# nothing here", ""]);
    tag.cmd()
        .args(["--input"])
        .arg(empty.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no numbers to check"));
    tag.cmd()
        .args(["--input", "/no/such/file"])
        .assert()
        .code(2)
        .stderr(predicate::str::diff("procpool: /no/such/file: no such file\n"));
    tag.cmd().args(["--input", "/"]).assert().code(2).stderr(predicate::str::starts_with("procpool: /: "));
    tag.assert_none_left();
}

#[test]
fn bad_arguments_exit_2_with_one_message() {
    let tag = Tag::new("args");
    for args in [
        vec!["0"],
        vec!["1025"],
        vec!["99999999999999999999999"],
        vec!["-3"],
        vec!["two"],
        vec!["--range", "10..5"],
        vec!["--range", "1..x"],
        vec!["--range", "5"],
        vec!["--input", "a", "--range", "1..5"],
        vec!["--mode", "fastest"],
        vec!["--kernel", "magic"],
        vec!["--timeout", "-1"],
        vec!["--timeout", "0"],
        vec!["--timeout", "1e-10"],
        vec!["--timeout", "0.05"],
        vec!["--mode", "rayon", "--timeout", "5"],
        vec!["--mode", "sequential", "--retries", "1"],
        vec!["99999999999999999999"],
    ] {
        let output = tag.cmd().args(&args).assert().code(2).get_output().clone();
        let stderr = String::from_utf8(output.stderr).unwrap();
        // clap's own errors come whole (with the usage line); the program's are one line.
        if stderr.starts_with("error: ") {
            assert!(stderr.contains("--help"), "{args:?}: {stderr}");
        } else {
            assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
            assert!(stderr.starts_with("procpool: "), "{args:?}: {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_huge_worker_count_is_too_large_not_malformed() {
    Tag::new("huge-workers").cmd().arg("99999999999999999999").assert().code(2).stderr(
        predicate::str::contains(
            "invalid value '99999999999999999999' for '[WORKERS]': too large: must be between 1 and 1024",
        )
        .and(predicate::str::contains("not a whole number").not()),
    );
}

#[test]
fn argument_errors_list_the_allowed_values_and_the_near_match() {
    let tag = Tag::new("clap");
    for (args, wanted) in [
        (vec!["--kernel", "Book"], vec!["possible values: book, fast", "'book'"]),
        (vec!["--mode", "seq"], vec!["sequential", "compare"]),
        (vec!["completions", "tcsh"], vec!["bash", "zsh", "fish"]),
        (vec!["2", "-q", "extra"], vec!["unexpected argument 'extra'", "Usage: procpool"]),
    ] {
        let output = tag.cmd().args(&args).assert().code(2).get_output().clone();
        let stderr = String::from_utf8(output.stderr).unwrap();
        for text in wanted {
            assert!(stderr.contains(text), "{args:?} should say {text:?}: {stderr}");
        }
        assert!(!stderr.contains("subcommand 'extra'"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn trailing_comments_and_a_byte_order_mark_are_accepted_in_every_mode() {
    let tag = Tag::new("comments");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"\xef\xbb\xbf97 # prime\n98# even\n").unwrap();
    for mode in ["processes", "compare", "all"] {
        tag.cmd().args(["2", "--mode", mode, "--input"]).arg(file.path()).assert().success().stdout(
            predicate::str::contains("              97  P ")
                .and(predicate::str::contains("              98    ")),
        );
    }
    tag.assert_none_left();
}

#[test]
fn an_empty_file_or_a_directory_is_named_with_no_header_before_it() {
    let tag = Tag::new("no-header");
    let empty = tempfile::NamedTempFile::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (path, what) in [(empty.path(), "no numbers to check"), (dir.path(), "is a directory")] {
        for mode in ["processes", "compare"] {
            let output = tag.cmd().args(["2", "--mode", mode, "--input"]).arg(path).assert().code(2);
            let output = output.get_output();
            assert!(output.stdout.is_empty(), "{}", String::from_utf8_lossy(&output.stdout));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.starts_with(&format!("procpool: {}: {what}", path.display())), "{stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
        }
    }
    tag.assert_none_left();
}

#[test]
fn a_file_name_with_a_newline_keeps_every_message_on_one_line() {
    // Such a name is shown quoted, its newline escaped: "bad\nname.txt".
    let tag = Tag::new("newline-name");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad\nname.txt");
    std::fs::write(&bad, "7\nabc\n").unwrap();
    let good = dir.path().join("good\nname.txt");
    std::fs::write(&good, "7\n11\n").unwrap();
    let run = |args: &[&std::ffi::OsStr], env: Option<&str>| {
        let mut cmd = tag.cmd();
        cmd.current_dir(dir.path()).args(args);
        if let Some(tmp) = env {
            cmd.env("TMPDIR", tmp);
        }
        let output = cmd.output().unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let cases: Vec<(Vec<&std::ffi::OsStr>, Option<&str>, i32, &str)> = vec![
        (
            vec![os("2"), os("--input"), bad.as_os_str()],
            None,
            2,
            "name.txt\":2: not a decimal number: \"abc\"",
        ),
        (vec![os("2"), os("--input"), os("no\nsuch.txt")], None, 2, "procpool: \"no\\nsuch.txt\": "),
        (
            vec![os("2"), os("--timeline"), os("no\ndir/t.svg")],
            None,
            2,
            "the directory \"no\\ndir\" does not exist",
        ),
        (
            vec![os("2"), os("--mode"), os("processes"), os("--resume"), os("r\nun.jsonl")],
            None,
            2,
            "\"r\\nun.jsonl\": cannot read the --resume file",
        ),
        // A library's message (the pool's TMPDIR check) is escaped as it is written.
        (vec![os("2"), os("--mode"), os("processes")], Some("/nonexistent\ndir"), 1, "/nonexistent\\ndir"),
    ];
    for (args, tmpdir, code, expected) in cases {
        let (status, _, stderr) = run(&args, tmpdir);
        assert_eq!(status, Some(code), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // stdout's header names it on one line too.
    let (status, stdout, stderr) =
        run(&[os("2"), os("--mode"), os("processes"), os("--input"), good.as_os_str()], None);
    assert_eq!(status, Some(0), "{stderr}");
    let header = stdout.lines().next().unwrap();
    assert!(header.starts_with("Checking ") && header.contains("name.txt\""), "{stdout}");
    assert!(stdout.lines().nth(1).unwrap().trim_start().starts_with("7  P"), "{stdout}");
    tag.assert_none_left();
}

#[test]
fn the_line_limit_leaves_out_the_line_ending_and_a_cut_line_claims_no_length() {
    let tag = Tag::new("long-lines");
    // 4096 bytes, then CRLF: at the limit, not over it.
    let at_limit = format!("{}7", " ".repeat(4095));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("{at_limit}\r\n11\r\n")).unwrap();
    let output = tag.cmd().args(["2", "--mode", "processes", "--input"]).arg(file.path()).output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("               7  P ") && stdout.contains("              11  P "), "{stdout}");
    // One byte more, and a line of 100,000: only their start was read, so
    // no length is claimed (it said "(4097 bytes)" for both).
    for line in [format!(" {at_limit}"), "9".repeat(100_000)] {
        let (_, stderr, path) = run_bad(&tag, &[&line]);
        assert!(
            stderr.starts_with(&format!("procpool: {path}:1: line longer than 4096 bytes: \"")),
            "{stderr}"
        );
        assert!(stderr.ends_with("...\"") && !stderr.contains(" bytes)"), "{stderr}");
    }
    tag.assert_none_left();
}
