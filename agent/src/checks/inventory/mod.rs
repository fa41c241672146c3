//! The inventory check (to be written).
