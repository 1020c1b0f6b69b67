//! Turning the stream of results into what users read: the book's lines,
//! JSON Lines, per-variant summaries, the comparison, sweeps and charts.
//! Reports never know how results were produced; every executor feeds them alike.

pub mod json;
pub mod lines;
pub mod machine;
pub mod output;
pub mod scaling;
pub mod speedup_chart;
pub mod summary;
pub mod sweep_noise;
pub mod sweep_table;
pub mod text;
pub mod timeline;
pub mod words;

/// A chart whose drawing or writing failed (a full disk) is removed rather
/// than left cut off, and the error put in words.
fn whole_chart_or_none(
    path: &std::path::Path,
    drawn: Result<(), Box<dyn std::error::Error>>,
) -> Result<(), String> {
    drawn.map_err(|error| {
        let _ = std::fs::remove_file(path);
        error.to_string()
    })
}
