//! End-to-end tests of the `vigie` binary, one test binary.
//!
//! - `data`: the data commands on the real datasets and on tiny fixtures (`--json` output,
//!   error messages).
//! - `fetch`: downloads from a local HTTP server on 127.0.0.1, checksums, offline errors.
//! - `util`: running the binary, a minimal file server.

mod data;
mod fetch;
mod util;
