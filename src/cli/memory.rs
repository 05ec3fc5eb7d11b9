//! The process's peak resident set (the operating system's high-water mark), reported by
//! `fomoh train` in `summary.json` and collected by `fomoh study`.

/// The peak resident set size of this process in MiB: `VmHWM` of `/proc/self/status` (Linux);
/// `None` where that file does not exist or does not have it.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

/// `VmHWM:  123456 kB` in MiB.
fn parse_vm_hwm(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut words = line["VmHWM:".len()..].split_whitespace();
    let kib: f64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_high_water_mark() {
        assert_eq!(super::parse_vm_hwm("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS: 1 kB\n"), Some(2.0));
        assert_eq!(super::parse_vm_hwm("VmHWM: 12 MB\n"), None);
        assert_eq!(super::parse_vm_hwm("VmRSS: 1 kB\n"), None);
    }
}
