#![doc = include_str!("../README.md")]
//!
//! (This root package holds the workspace's examples and benchmarks; the README's code
//! blocks are compiled as its doc tests.)
