use clap::Parser;

fn main() -> std::process::ExitCode {
    sextant::run(sextant::Cli::parse())
}
