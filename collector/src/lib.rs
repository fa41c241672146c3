//! fleetwatch collector library.
#![deny(missing_docs)]
