//! The token bucket as GCRA (generic cell rate algorithm): one number per bucket, the
//! theoretical arrival time (TAT) of the next request, in microseconds. A request is allowed
//! when the bucket, after taking it, holds at most `burst` requests' worth of debt; each
//! request's token comes back after `interval`. The Redis script computes exactly this.

/// The outcome of one request against one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// Requests that could still be made now.
    pub remaining: u64,
    /// Microseconds until a refused request would be allowed (0 when allowed).
    pub retry_after_us: u64,
    /// Microseconds until the bucket is full again.
    pub reset_us: u64,
}

/// One step: the bucket's TAT (`None`: unknown or forgotten, i.e. full) at `now`, and the TAT
/// to store when the request is allowed.
pub fn step(tat: Option<u64>, now: u64, interval: u64, burst: u64) -> (Verdict, Option<u64>) {
    let interval = interval.max(1);
    let capacity = interval.saturating_mul(burst.max(1));
    let start = tat.unwrap_or(now).max(now);
    let new_tat = start.saturating_add(interval);
    let debt = new_tat - now;
    if debt > capacity {
        return (
            Verdict {
                allowed: false,
                remaining: 0,
                retry_after_us: debt - capacity,
                reset_us: start - now,
            },
            None,
        );
    }
    (
        Verdict {
            allowed: true,
            remaining: (capacity - debt) / interval,
            retry_after_us: 0,
            reset_us: debt,
        },
        Some(new_tat),
    )
}

/// Microseconds to whole seconds, rounded up (`Retry-After` and the `t` parameter).
pub fn ceil_secs(us: u64) -> u64 {
    us.div_ceil(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_then_one_token_per_interval() {
        // 5 per second (200 ms each), burst 3.
        let (i, b) = (200_000, 3);
        let mut tat = None;
        let mut now = 1_000_000_000;
        for left in [2, 1, 0] {
            let (v, t) = step(tat, now, i, b);
            assert!(v.allowed);
            assert_eq!(v.remaining, left);
            tat = t;
        }
        let (v, t) = step(tat, now, i, b);
        assert!(!v.allowed && t.is_none());
        assert_eq!(v.retry_after_us, 200_000);
        assert_eq!(v.reset_us, 600_000);
        assert_eq!(ceil_secs(v.retry_after_us), 1);
        // After one interval exactly one more request goes through.
        now += 200_000;
        let (v, t) = step(tat, now, i, b);
        assert!(v.allowed && v.remaining == 0);
        tat = t;
        assert!(!step(tat, now, i, b).0.allowed);
        // After a long pause the bucket is full again, never fuller.
        now += 10_000_000;
        let (v, _) = step(tat, now, i, b);
        assert!(v.allowed && v.remaining == 2);
    }

    #[test]
    fn slow_rates_report_long_waits() {
        // 1 per hour, burst 1: the second request waits the whole hour.
        let (v, tat) = step(None, 5, 3_600_000_000, 1);
        assert!(v.allowed);
        let (v, _) = step(tat, 5, 3_600_000_000, 1);
        assert_eq!(ceil_secs(v.retry_after_us), 3600);
    }
}
