//! Clock faults as data: how fast a skewed clock runs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How fast a node's clock runs against real time (`1.5`: 1.5 s pass on the node for every real
/// second), in thousandths so faults compare exactly. Between 0.1 and 10, and never 1 (which
/// would skew nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockRate(u32);

impl ClockRate {
    /// The slowest rate accepted, in thousandths: 0.1. libfaketime also stretches the sleeps and
    /// poll timeouts of the node by 1/rate, so a slower clock leaves the node's timers firing
    /// ten times late and more, which is no longer a clock fault but a frozen node.
    pub const MIN: u32 = 100;
    /// The fastest: 10.
    pub const MAX: u32 = 10_000;

    pub fn new(rate: f64) -> Result<ClockRate, String> {
        if !rate.is_finite() || rate <= 0.0 {
            return Err(format!(
                "{rate} is not a clock rate: a rate is more than 0 (1.5 runs fast, 0.5 slow)"
            ));
        }
        let thousandths = (rate * 1000.0).round();
        if thousandths < f64::from(Self::MIN) || thousandths > f64::from(Self::MAX) {
            return Err(format!(
                "{rate} is out of range: a clock rate is from 0.1 to 10 (libfaketime also \
                 stretches the node's sleeps by 1/rate)"
            ));
        }
        if thousandths as u32 == 1000 {
            return Err(format!("{rate}: a rate of 1 skews nothing"));
        }
        Ok(ClockRate(thousandths as u32))
    }

    pub fn as_f64(&self) -> f64 {
        f64::from(self.0) / 1000.0
    }
}

impl fmt::Display for ClockRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "x{}", self.as_f64())
    }
}

impl Serialize for ClockRate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for ClockRate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ClockRate, D::Error> {
        ClockRate::new(f64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// What a clock fault asks of a node's clock: ahead (or back) by `offset_secs` when it is
/// applied, then running at `rate` (real time's when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClockShift {
    pub offset_secs: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<ClockRate>,
}

impl fmt::Display for ClockShift {
    /// `+30s`, `+0s x1.5`, `-5s x0.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:+}s", self.offset_secs)?;
        if let Some(r) = self.rate {
            write!(f, " {r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_bounded_and_exact() {
        assert_eq!(ClockRate::new(1.5).unwrap().as_f64(), 1.5);
        assert_eq!(ClockRate::new(0.1).unwrap().to_string(), "x0.1");
        assert_eq!(ClockRate::new(10.0).unwrap().to_string(), "x10");
        for bad in [0.0, -1.0, 0.05, 10.5, 1.0, f64::NAN, f64::INFINITY] {
            assert!(ClockRate::new(bad).is_err(), "{bad}");
        }
        let json = serde_json::to_value(ClockRate::new(0.25).unwrap()).unwrap();
        assert_eq!(json, serde_json::json!(0.25));
        assert!(serde_json::from_value::<ClockRate>(serde_json::json!(0)).is_err());
        let shift = ClockShift {
            offset_secs: 0,
            rate: ClockRate::new(1.5).ok(),
        };
        assert_eq!(shift.to_string(), "+0s x1.5");
        assert_eq!(
            ClockShift {
                offset_secs: -30,
                rate: None
            }
            .to_string(),
            "-30s"
        );
    }
}
