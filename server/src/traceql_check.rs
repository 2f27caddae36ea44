//! `sextant traceql check FILE`: runs a table of TraceQL queries (sections `valid`,
//! `parse_fails`, `validate_fails`, `unsupported`) through the parser and validation and counts
//! how many behave as their section says.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use sextant_traceql::{ValidateError, parse};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum TraceqlCommand {
    /// Count how many queries of a YAML table behave as their section says.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// YAML file with lists `valid`, `parse_fails`, `validate_fails`, `unsupported`.
    file: PathBuf,
    /// Also print every query that disagrees, and why.
    #[arg(long, short)]
    verbose: bool,
}

const SECTIONS: [&str; 4] = ["valid", "parse_fails", "validate_fails", "unsupported"];

pub(crate) fn run(command: TraceqlCommand) -> ExitCode {
    let TraceqlCommand::Check(args) = command;
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e}", args.file.display());
            return ExitCode::FAILURE;
        }
    };
    match check(&text, args.verbose) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot parse {} as a query table: {e}", args.file.display());
            ExitCode::FAILURE
        }
    }
}

/// What happened to one query.
fn outcome(query: &str) -> (&'static str, String) {
    match parse(query) {
        Err(e) => ("parse_fails", e.to_string()),
        Ok(q) => match q.validate() {
            Ok(()) => ("valid", format!("parsed as {q}")),
            Err(e @ ValidateError::Unsupported(_)) => ("unsupported", e.to_string()),
            Err(e) => ("validate_fails", e.to_string()),
        },
    }
}

/// The report for a YAML table: one line per section, then the total.
pub(crate) fn check(yaml: &str, verbose: bool) -> Result<String, serde_yaml::Error> {
    let table: BTreeMap<String, Option<Vec<String>>> = serde_yaml::from_str(yaml)?;
    let mut out = String::new();
    let (mut agree_all, mut total_all) = (0, 0);
    for section in SECTIONS {
        let queries = table.get(section).cloned().flatten().unwrap_or_default();
        let mut agree = 0;
        let mut detail = String::new();
        for q in &queries {
            let (got, why) = outcome(q);
            if got == section {
                agree += 1;
            } else {
                let _ = writeln!(detail, "  {q:?}: {got} ({why})");
            }
        }
        let _ = writeln!(out, "{section}: {agree}/{} agree", queries.len());
        if verbose {
            out.push_str(&detail);
        }
        agree_all += agree;
        total_all += queries.len();
    }
    let _ = writeln!(out, "conformance: {agree_all}/{total_all}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn counts_agreement_per_section() {
        let yaml = r#"
valid:
  - '{ .a = 1 }'
  - '{ .a = '
parse_fails:
  - '{ .a = '
validate_fails:
  - '{ 1 = "a" }'
  - '{ .a = 1 }'
unsupported:
  - '{ parent.a = 1 }'
dump:
"#;
        let report = check(yaml, true).unwrap();
        assert!(report.contains("valid: 1/2 agree"), "{report}");
        assert!(report.contains("parse_fails: 1/1 agree"), "{report}");
        assert!(report.contains("validate_fails: 1/2 agree"), "{report}");
        assert!(report.contains("unsupported: 1/1 agree"), "{report}");
        assert!(report.contains("\"{ .a = 1 }\": valid"), "{report}");
        assert!(report.ends_with("conformance: 4/6\n"), "{report}");
        assert!(
            !check(yaml, false)
                .unwrap()
                .contains("\"{ .a = 1 }\": valid")
        );
    }
}
