//! The password_policy check (to be written).
