//! zap's sampler as the debug exporter configures it: per message and per 1 s tick, the first
//! `initial` entries pass, then every `thereafter`-th. With the defaults (2, 1) all pass.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_secs(1);

pub struct Sampler {
    initial: u64,
    thereafter: u64,
    state: Mutex<(Instant, HashMap<String, u64>)>,
}

impl Sampler {
    pub fn new(initial: u64, thereafter: u64) -> Self {
        Sampler {
            initial,
            thereafter,
            state: Mutex::new((Instant::now(), HashMap::new())),
        }
    }

    pub fn allow(&self, key: &str) -> bool {
        if self.thereafter == 1 {
            return true;
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if now.duration_since(st.0) >= TICK {
            // A new tick resets every counter (and bounds the map's size).
            *st = (now, HashMap::new());
        }
        let n = st.1.entry(key.to_owned()).or_insert(0);
        *n += 1;
        if *n <= self.initial {
            return true;
        }
        self.thereafter != 0 && (*n - self.initial).is_multiple_of(self.thereafter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples() {
        let s = Sampler::new(2, 3);
        let got: Vec<bool> = (0..8).map(|_| s.allow("Traces")).collect();
        assert_eq!(got, [true, true, false, false, true, false, false, true]);
        assert!(s.allow("Logs"));
        let all = Sampler::new(2, 1);
        assert!((0..10).all(|_| all.allow("x")));
    }
}
