//! Integration tests of the model zoo, one module per family, in one binary (each test binary
//! links Burn: one link instead of several).

mod anomaly;
mod artifact;
mod libinjection_parity;
mod linear;
mod metrics;
mod nn;
mod pooled;
