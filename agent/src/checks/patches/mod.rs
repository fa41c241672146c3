//! The patches check (to be written).
