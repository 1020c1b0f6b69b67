//! The cluster as hosts: several ranks may share one (as `--oversubscribe`
//! does here), so cores are counted per host, once, from the CPUs its
//! ranks may run on, and each host gets one line of jobs and CPU time.

use std::collections::BTreeSet;
use std::time::Duration;

use super::wire::Hello;

/// The CPUs this process may run on (its affinity mask).
pub fn own_cpus() -> Vec<u32> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set, filled in by the call.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        return (0..procpool::available_cores() as u32).collect();
    }
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .map(|cpu| cpu as u32)
        .collect()
}

/// What one host did in the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    pub ranks: Vec<usize>,
    pub workers: usize,
    /// Cores its ranks could use between them.
    pub cores: usize,
    pub jobs: u64,
    pub cpu: Duration,
}

impl Host {
    /// Its CPU time over what its usable cores could have given in `wall`.
    pub fn busy(&self, wall: Duration) -> f64 {
        let usable = self.workers.min(self.cores).max(1) as f64;
        if wall.is_zero() {
            0.0
        } else {
            self.cpu.as_secs_f64() / (wall.as_secs_f64() * usable)
        }
    }
}

/// Groups ranks (their hellos and per-rank jobs and CPU time) by host, in
/// order of each host's first rank.
pub fn by_host(ranks: &[Option<Hello>], jobs: &[u64], cpu: &[Duration]) -> Vec<Host> {
    let mut hosts: Vec<(Host, BTreeSet<u32>)> = Vec::new();
    for (rank, hello) in ranks.iter().enumerate() {
        let Some(hello) = hello else { continue };
        let at = match hosts.iter().position(|(h, _)| h.name == hello.host) {
            Some(at) => at,
            None => {
                let host = Host {
                    name: hello.host.clone(),
                    ranks: Vec::new(),
                    workers: 0,
                    cores: 0,
                    jobs: 0,
                    cpu: Duration::ZERO,
                };
                hosts.push((host, BTreeSet::new()));
                hosts.len() - 1
            }
        };
        let (host, cpus) = &mut hosts[at];
        host.ranks.push(rank);
        host.workers += hello.workers;
        host.jobs += jobs.get(rank).copied().unwrap_or(0);
        host.cpu += cpu.get(rank).copied().unwrap_or_default();
        cpus.extend(&hello.cpus);
        host.cores = cpus.len().max(1);
    }
    hosts.into_iter().map(|(host, _)| host).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(host: &str, workers: usize, cpus: &[u32]) -> Option<Hello> {
        Some(Hello { workers, cpus: cpus.to_vec(), clock: Duration::ZERO, host: host.into() })
    }

    #[test]
    fn ranks_sharing_a_host_count_its_cores_once() {
        let ranks = [hello("a", 2, &[0, 1]), hello("b", 4, &[0, 1, 2, 3]), hello("a", 2, &[0, 1])];
        let hosts = by_host(&ranks, &[5, 6, 7], &[Duration::from_secs(1); 3]);
        assert_eq!(hosts.len(), 2);
        assert_eq!(
            (hosts[0].ranks.clone(), hosts[0].workers, hosts[0].cores, hosts[0].jobs),
            (vec![0, 2], 4, 2, 12)
        );
        assert_eq!((hosts[1].workers, hosts[1].cores), (4, 4));
        assert!((hosts[0].busy(Duration::from_secs(1)) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn the_cpus_of_this_process_are_read() {
        assert!(!own_cpus().is_empty());
    }
}
