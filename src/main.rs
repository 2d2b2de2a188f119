//! The `wavefront-responder` binary: parses arguments and hands over to the command asked for
//! (`src/commands/`). Runs as a Lambda function when `AWS_LAMBDA_RUNTIME_API` is set and no
//! command is given.

mod commands;

use std::process::ExitCode;

use clap::Parser;

use crate::commands::Command;

#[derive(Parser)]
#[command(
    version,
    about = "Rolls back a bad release when a Wavefront alert fires."
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    commands::init_logging();
    let Some(command) = args.command.or_else(Command::default_here) else {
        eprintln!(
            "wavefront-responder: give a command (serve, check, explain, ledger, freeze, \
             unfreeze, register); see --help.\n\
             On AWS Lambda it runs as the function handler by itself."
        );
        return ExitCode::from(2);
    };
    match command.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
