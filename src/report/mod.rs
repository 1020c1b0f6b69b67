//! Turning the stream of results into what users read: the book's lines,
//! JSON Lines, per-variant summaries and the comparison. Reports never know
//! how results were produced; every executor feeds them alike.

pub mod json;
pub mod lines;
pub mod output;
pub mod summary;
pub mod text;
