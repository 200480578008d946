//! Streaming baselines: an exponentially weighted mean and variance of `ln(1 + x)`.
//! Sixteen bytes of state per metric, O(1) per update, whatever the stream length.

/// Smallest standard deviation (log space) a baseline claims: about 10%. Without it a
/// perfectly steady metric would call any jitter anomalous.
const SD_FLOOR: f64 = 0.1;

/// Exponentially weighted mean and variance of `ln(1 + x)`.
///
/// While warming up the weight is `1/n`, so the first values give the plain mean and
/// variance; afterwards it is `alpha` and old values fade out.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Ewma {
    mean: f64,
    var: f64,
}

/// How a value compares with a baseline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deviation {
    /// Standard deviations above (positive) or below the mean, in log space.
    pub z: f64,
    /// The value divided by the baseline's typical value.
    pub ratio: f64,
    /// The baseline's typical value (geometric-mean-like), in the value's units.
    pub typical: f64,
}

impl Ewma {
    /// The baseline's typical value in the original units.
    pub fn typical(&self) -> f64 {
        self.mean.exp_m1().max(0.0)
    }

    fn sd(&self) -> f64 {
        self.var.max(0.0).sqrt().max(SD_FLOOR)
    }

    /// How `x` compares with the baseline.
    pub fn deviation(&self, x: f64) -> Deviation {
        let typical = self.typical();
        let z = (x.max(0.0).ln_1p() - self.mean) / self.sd();
        // A zero baseline makes every positive value an infinite ratio; the absolute-delta
        // guards of the callers keep that from alerting on trivia.
        let ratio = if typical > 0.0 {
            x / typical
        } else if x > 0.0 {
            f64::INFINITY
        } else {
            1.0
        };
        Deviation { z, ratio, typical }
    }

    /// Learns `x`. `n` is the number of values learnt before this one. `clip_z` bounds how far
    /// one value may move the baseline, so an anomaly does not become the new normal at once
    /// while a lasting level shift is still followed.
    pub fn update(&mut self, x: f64, n: u32, alpha: f64, clip_z: Option<f64>) {
        let mut y = x.max(0.0).ln_1p();
        if n == 0 {
            self.mean = y;
            self.var = 0.0;
            return;
        }
        if let Some(z) = clip_z {
            let sd = self.sd();
            y = y.clamp(self.mean - z * sd, self.mean + z * sd);
        }
        let a = (1.0 / f64::from(n + 1)).max(alpha);
        let diff = y - self.mean;
        let incr = a * diff;
        self.mean += incr;
        self.var = (1.0 - a) * (self.var + diff * incr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_gives_plain_mean_and_variance() {
        let mut e = Ewma::default();
        let xs = [10.0f64, 20.0, 30.0, 40.0];
        for (n, x) in xs.iter().enumerate() {
            e.update(*x, n as u32, 0.01, None);
        }
        let ys: Vec<f64> = xs.iter().map(|x| x.ln_1p()).collect();
        let mean = ys.iter().sum::<f64>() / 4.0;
        let var = ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / 4.0;
        assert!((e.mean - mean).abs() < 1e-12);
        assert!((e.var - var).abs() < 1e-12);
    }

    #[test]
    fn clipping_bounds_the_pull_of_one_outlier() {
        let mut e = Ewma::default();
        for n in 0..100 {
            e.update(100.0, n, 0.05, None);
        }
        let before = e.typical();
        e.update(1e9, 100, 0.05, Some(4.0));
        // One clipped outlier moves the typical value by at most alpha * 4 sd (e^0.02 ~ 2%).
        assert!(e.typical() < before * 1.03, "{} vs {}", e.typical(), before);
        let d = e.deviation(1000.0);
        assert!(d.ratio > 9.0 && d.z > 4.0);
    }
}
