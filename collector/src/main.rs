//! fleetwatch-collector binary.
fn main() {}
