//! fleetwatch-agent binary.
fn main() {}
