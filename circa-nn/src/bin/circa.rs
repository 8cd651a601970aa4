//! The `circa` command.

fn main() {}
