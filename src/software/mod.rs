//! Older software: products and versions a service volunteers (headers, HTML, JSON status
//! pages, banners), placed in release data to tell whether they are past or near their end of
//! life (SPEC §4 "Older software").
//!
//! - `fingerprints.rs`: per product, where to look and the pattern of its version;
//! - `identify.rs`: what a run observed → products and versions (pure, bounded);
//! - `data.rs`: the release data built into the binary, and `software.data` files in
//!   endoflife.date's API v1 shape.

pub mod data;
mod fingerprints;
pub mod identify;
