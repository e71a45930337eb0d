//! The netshim comparison harness.
//!
//! Every C test program (tests/c/build/t_*) and every real-program scenario
//! script (tests/programs/s_*.sh) prints one `<case>: <result>` line per
//! case (tests/c/tcase.h). The harness runs each program on the
//! kernel and under the shim (`LD_PRELOAD=libnetshim.so`), compares the two
//! runs case by case, accepts the differences listed in the divergences
//! file, and reports a conformance table per test plus a summary.
//!
//! Modules: [`cli`] (options), [`suite`] (finding and running tests),
//! [`run`] (one process with a timeout), [`parse`] (case lines),
//! [`compare`] (kernel against shim), [`divergences`] (accepted
//! differences), [`kernel`] (which rules the kernel beside us follows where
//! kernels differ) and [`report`] (the text output).

pub mod cli;
pub mod compare;
pub mod divergences;
pub mod kernel;
pub mod parse;
pub mod report;
pub mod run;
pub mod suite;

#[cfg(test)]
mod testutil;
