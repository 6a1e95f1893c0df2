//! Helpers for the workspace's end-to-end tests.
