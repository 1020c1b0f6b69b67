//! The charts as a reader sees them: rendered to PNG (kept under the target
//! directory's `chart-previews/` to be looked at), lanes labelled for what
//! they are, the legend off the lanes, and chart paths checked before a run.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Tag;

/// Every `<text>` of an SVG with its y coordinate.
fn texts_with_y(svg: &str) -> Vec<(String, f64)> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| Some((n.text()?.trim().to_owned(), n.attribute("y")?.parse().ok()?)))
        .collect()
}

/// Renders `svg` to `name`.png under the previews folder; fails on a blank image.
fn render_png(svg: &Path, name: &str) -> PathBuf {
    let mut options = resvg::usvg::Options::default();
    let fonts = options.fontdb_mut();
    fonts.load_system_fonts();
    // The charts ask for "sans-serif"; map it to a font this machine has.
    let family = fonts.faces().find_map(|face| face.families.first().map(|(name, _)| name.clone()));
    if let Some(family) = family {
        let preferred = fonts.faces().any(|f| f.families.iter().any(|(n, _)| n == "DejaVu Sans"));
        fonts.set_sans_serif_family(if preferred { "DejaVu Sans".to_owned() } else { family });
    }
    let tree = resvg::usvg::Tree::from_data(&std::fs::read(svg).unwrap(), &options).unwrap();
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pixmap.as_mut());
    let inked = pixmap.pixels().iter().filter(|p| p.red() < 200 || p.green() < 200 || p.blue() < 200).count();
    assert!(inked > 2000, "{name}: almost nothing drawn ({inked} pixels)");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chart-previews");
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join(format!("{name}.png"));
    pixmap.save_png(&png).unwrap();
    png
}

fn draw_timeline(tag: &Tag, mode: &str, workers: &str) -> (String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("timeline.svg");
    let output =
        tag.cmd().args([workers, "--mode", mode, "--quiet", "--timeline"]).arg(&chart).assert().success();
    let stdout = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains(&format!("Timeline written to {}", chart.display())), "{stdout}");
    render_png(&chart, &format!("timeline-{mode}"));
    (std::fs::read_to_string(&chart).unwrap(), stdout, dir)
}

#[test]
fn a_rayon_timeline_has_a_lane_per_thread_labelled_as_threads() {
    let tag = Tag::new("rayon-timeline");
    let (svg, _, _dir) = draw_timeline(&tag, "rayon", "2");
    let texts: Vec<String> = texts_with_y(&svg).into_iter().map(|(t, _)| t).collect();
    assert!(texts.iter().any(|t| t == "thread 1") && texts.iter().any(|t| t == "thread 2"), "{texts:?}");
    assert!(!texts.iter().any(|t| t.starts_with("pid ")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("20 jobs on 2 rayon threads")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("rayon thread")), "{texts:?}");
}

#[test]
fn the_timeline_legend_sits_above_the_lanes_and_tells_makespan_from_wall() {
    let tag = Tag::new("legend");
    let (svg, _, _dir) = draw_timeline(&tag, "processes", "4");
    let texts = texts_with_y(&svg);
    let mut lanes: Vec<f64> = texts.iter().filter(|(t, _)| t.starts_with("pid ")).map(|&(_, y)| y).collect();
    lanes.sort_by(f64::total_cmp);
    assert_eq!(lanes.len(), 4, "{texts:?}");
    // A lane's label is in its middle, so the top lane starts half a lane above it.
    let top_edge = lanes[0] - (lanes[1] - lanes[0]) / 2.0;
    for key in ["a job", "makespan", "lower bound"] {
        let (_, y) = texts.iter().find(|(t, _)| t.starts_with(key)).unwrap_or_else(|| panic!("no {key}"));
        // Text is drawn from y down by its 13 px height: it must end above the lane.
        assert!(*y + 13.0 <= top_edge, "{key} at y={y} overlaps the top lane, which starts at {top_edge}");
    }
    let makespan = &texts.iter().find(|(t, _)| t.starts_with("makespan")).unwrap().0;
    assert!(makespan.contains("first job start") && makespan.contains("wall"), "{makespan}");
    tag.assert_none_left();
}

#[test]
fn the_sweep_chart_shows_both_variants_side_by_side_with_matching_legend() {
    let tag = Tag::new("sweep-chart");
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("speedup.svg");
    tag.cmd()
        .args(["sweep", "3", "--runs", "1", "--kernel", "fast", "--plot"])
        .arg(&chart)
        .assert()
        .success();
    render_png(&chart, "sweep");
    let svg = std::fs::read_to_string(&chart).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    // Processes are circles, rayon triangles, at x positions that differ.
    let circles: Vec<f64> = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle"))
        .filter_map(|n| n.attribute("cx")?.parse().ok())
        .collect();
    let triangles = doc.descendants().filter(|n| n.has_tag_name("polygon")).count();
    assert!(circles.len() >= 3 && triangles >= 3, "{} circles, {triangles} triangles", circles.len());
    // Dashed lines in the plot have dashed samples in the legend: more than the two plotted.
    let dashed = doc.descendants().filter(|n| n.has_tag_name("polyline") || n.has_tag_name("line")).count();
    assert!(dashed > 0);
    tag.assert_none_left();
}

#[test]
fn a_chart_path_that_cannot_be_written_is_refused_before_any_work() {
    let tag = Tag::new("chart-paths");
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("t.png");
    let fifo = dir.path().join("fifo.svg");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["2".into(), "--timeline".into(), "/nonexistent/dir/t.svg".into()], "does not exist"),
        (
            vec!["sweep".into(), "2".into(), "--plot".into(), "/nonexistent/dir/s.svg".into()],
            "does not exist",
        ),
        (vec!["2".into(), "--timeline".into(), png.display().to_string()], "name the file .svg, not .png"),
        (vec!["sweep".into(), "2".into(), "--plot".into(), dir.path().display().to_string()], ".svg"),
        // Nobody reads these: opening one to write would block for ever.
        (vec!["2".into(), "--timeline".into(), fifo.display().to_string()], "is not a regular file"),
        (
            vec!["sweep".into(), "2".into(), "--plot".into(), fifo.display().to_string()],
            "is not a regular file",
        ),
    ];
    for (args, reason) in cases {
        let output =
            tag.cmd().timeout(Duration::from_secs(20)).args(&args).assert().code(2).get_output().clone();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.starts_with("procpool: --") && stderr.contains(reason), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(output.stdout.is_empty(), "{args:?} ran before refusing");
    }
    assert!(!png.exists(), "SVG was written into a .png");
    tag.assert_none_left();
}

/// A chart that cannot be written after the run (here a file-size limit,
/// as a full disk would) is one line and exit 2 after the run's report,
/// and no cut-off SVG is left where the chart should be.
#[test]
fn a_chart_that_fails_midway_leaves_no_cut_off_file() {
    use std::os::unix::process::CommandExt;
    let tag = Tag::new("chart-full");
    let dir = tempfile::tempdir().unwrap();
    for (args, chart) in [
        (
            vec![
                "2",
                "--mode",
                "processes",
                "--kernel",
                "fast",
                "--range",
                "1..300",
                "--quiet",
                "--timeline",
            ],
            "t.svg",
        ),
        (vec!["sweep", "2", "--runs", "1", "--kernel", "fast", "--plot"], "s.svg"),
    ] {
        let mut command = tag.std_cmd();
        command.current_dir(dir.path()).args(&args).arg(chart);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                // At its default (a kill): procpool ignores it itself, so that a
                // write past the limit fails with EFBIG. Before, the run died
                // without a word and left the chart cut off.
                libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
                Ok(nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_FSIZE, 2048, 2048)?)
            });
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with(&format!("procpool: cannot write the chart {chart}")), "{args:?}: {stderr}");
        assert!(!output.stdout.is_empty(), "{args:?}: the run's report comes first");
        assert!(!dir.path().join(chart).exists(), "{args:?}: a cut-off {chart} was left");
    }
    tag.assert_none_left();
}

#[test]
fn the_readmes_pictures_render() {
    for name in ["speedup", "timeline"] {
        let svg = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join(format!("{name}.svg"));
        render_png(&svg, &format!("readme-{name}"));
    }
}
