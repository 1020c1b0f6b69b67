//! Whether this process was started by an MPI launcher. MPI would start
//! alone as a world of one rank (a "singleton"); a user who typed `--mpi`
//! without `mpirun` wants to hear that instead.

/// Variables a launcher sets in every rank: Open MPI's mpirun, MPICH's and
/// Intel MPI's Hydra (and Slurm's PMI-2), PMIx (Open MPI 5, `srun --mpi=pmix`).
pub const LAUNCHER_VARIABLES: [&str; 4] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK"];

/// Ok under a launcher, else the line to print.
pub fn check() -> Result<(), String> {
    if LAUNCHER_VARIABLES.iter().any(|name| std::env::var_os(name).is_some()) {
        return Ok(());
    }
    Err(format!(
        "--mpi needs an MPI launcher: start it as `mpirun -n RANKS procpool ... --mpi` or \
         `srun --mpi=pmix ... procpool ... --mpi` (none of {} is set)",
        LAUNCHER_VARIABLES.join(", ")
    ))
}
