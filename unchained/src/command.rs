//! [`CommandContext`]: what a bundle's CLI command can reach. It is
//! defined beside the [`Bundle`](crate::Bundle) trait, whose hooks receive
//! it; this path is kept for imports.

pub use crate::bundle::CommandContext;
