//! `--mpi`: one run across the ranks of an MPI launch (mpirun, mpiexec,
//! Slurm's srun). Every rank, rank 0 included, runs its own
//! [`ProcessPool`](procpool::ProcessPool) of WORKERS processes; rank 0 also
//! reads the input, drives the pool's scheduler with each rank's pool as a
//! destination, and prints. A worker crash is handled by its rank's pool
//! with the usual retries and blame; a rank that dies ends the run (MPI's
//! model: the launcher stops every rank, and each rank's workers die with it).
//!
//! Built only with the cargo feature `mpi`; without it `--mpi` says so.

#[cfg(feature = "mpi")]
mod hosts;
#[cfg(feature = "mpi")]
mod idle;
#[cfg(feature = "mpi")]
mod launcher;
#[cfg(feature = "mpi")]
mod link;
#[cfg(feature = "mpi")]
mod node;
#[cfg(feature = "mpi")]
mod outcome;
#[cfg(feature = "mpi")]
mod report;
#[cfg(feature = "mpi")]
mod run;
#[cfg(feature = "mpi")]
mod serve;
#[cfg(feature = "mpi")]
mod supervisor;
#[cfg(feature = "mpi")]
mod wire;

use std::process::ExitCode;

use super::signals::StopSignals;
use super::AppError;
use crate::cli::RunArgs;

/// Runs this rank's part of a `--mpi` run.
pub fn run(args: &RunArgs, stop: &StopSignals) -> Result<ExitCode, AppError> {
    #[cfg(not(feature = "mpi"))]
    {
        let _ = (args, stop);
        Err(AppError::Usage(
            "--mpi needs a build with MPI support: cargo build --release --features mpi \
             (README.md, \"Beyond one machine\")"
                .into(),
        ))
    }
    #[cfg(feature = "mpi")]
    {
        launcher::check().map_err(AppError::Usage)?;
        run::run_rank(args, stop)
    }
}
