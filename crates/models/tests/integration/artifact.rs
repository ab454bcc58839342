//! artifact tests
