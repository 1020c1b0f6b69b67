//! What the machine is, so every figure comes with its context: logical and
//! physical cores, CPU model, OS, kernel release, procpool version.

use std::collections::BTreeSet;
use std::fs;

use serde::Serialize;

/// The machine a measurement ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Machine {
    /// Cores this process may use (affinity and cgroup limits applied).
    pub usable_cores: usize,
    /// Logical CPUs the OS reports.
    pub logical_cpus: usize,
    /// Distinct physical cores, when /proc/cpuinfo says.
    pub physical_cores: Option<usize>,
    pub cpu_model: Option<String>,
    pub os: String,
    pub kernel_release: Option<String>,
    pub procpool_version: &'static str,
}

impl Machine {
    /// Reads /proc and the OS release files; anything unreadable is left out.
    pub fn detect() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let (logical, physical, model) = parse_cpuinfo(&cpuinfo);
        let usable_cores = procpool::available_cores();
        Machine {
            usable_cores,
            logical_cpus: logical.max(usable_cores),
            physical_cores: physical,
            cpu_model: model,
            os: os_name(),
            kernel_release: fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|s| s.trim().to_owned()),
            procpool_version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// "2 logical cores (1 physical)" or "2 logical cores".
    pub fn cores_phrase(&self) -> String {
        let plural = if self.usable_cores == 1 { "" } else { "s" };
        match self.physical_cores {
            Some(physical) if physical < self.usable_cores => {
                format!(
                    "{} logical core{plural} ({physical} physical: hyperthreads share a core)",
                    self.usable_cores
                )
            }
            _ => format!("{} logical core{plural}", self.usable_cores),
        }
    }
}

/// (logical CPUs, distinct physical cores if known, model name if known).
pub fn parse_cpuinfo(text: &str) -> (usize, Option<usize>, Option<String>) {
    let mut logical = 0;
    let mut cores = BTreeSet::new();
    let mut physical_id = None;
    let mut model = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" => logical += 1,
            "physical id" => physical_id = Some(value.to_owned()),
            "core id" => {
                cores.insert((physical_id.clone(), value.to_owned()));
            }
            "model name" if model.is_none() => model = Some(value.to_owned()),
            _ => {}
        }
    }
    (logical, (!cores.is_empty()).then_some(cores.len()), model)
}

fn os_name() -> String {
    let release = fs::read_to_string("/etc/os-release").unwrap_or_default();
    release
        .lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|name| name.trim_matches('"').to_owned())
        .unwrap_or_else(|| std::env::consts::OS.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_hyperthreads_once() {
        let text = "processor : 0\nmodel name : Test CPU\nphysical id : 0\ncore id : 0\n\n\
                    processor : 1\nmodel name : Test CPU\nphysical id : 0\ncore id : 0\n\n\
                    processor : 2\nphysical id : 0\ncore id : 1\n";
        assert_eq!(parse_cpuinfo(text), (3, Some(2), Some("Test CPU".into())));
    }

    #[test]
    fn unknown_topology_is_not_guessed() {
        assert_eq!(parse_cpuinfo("processor : 0\nprocessor : 1\n"), (2, None, None));
    }
}
