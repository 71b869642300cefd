//! The `faultline` command: the command line of the `faultline` library (see `src/lib.rs`).

fn main() -> std::process::ExitCode {
    faultline::cli::main()
}
