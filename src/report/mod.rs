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
