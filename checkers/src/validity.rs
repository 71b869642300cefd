//! The one verdict type: Jepsen's `:valid?`, as every checker, the runner, the results files and
//! the exit code see it.

use serde::{Deserialize, Serialize};

/// Whether a history (or a run) is correct. Ordered by priority, so that the worst of several
/// is their maximum: invalid beats unknown beats valid.
///
/// In JSON it is Jepsen's `:valid?`: `true`, `false` or `"unknown"`.
///
/// ```
/// use checkers::Validity;
/// let all = [Validity::Valid, Validity::Unknown, Validity::Invalid];
/// assert_eq!(Validity::combine(all), Validity::Invalid);
/// assert_eq!(Validity::Valid.worst(Validity::Unknown), Validity::Unknown);
/// assert_eq!(serde_json::to_string(&Validity::Unknown).unwrap(), "\"unknown\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Validity {
    /// The checker found nothing wrong.
    Valid,
    /// No verdict: a limit was hit, nothing could be checked, or the run was undermined.
    Unknown,
    /// A violation was found.
    Invalid,
}

impl Validity {
    /// The worse of two: invalid over unknown over valid.
    pub fn worst(self, other: Validity) -> Validity {
        self.max(other)
    }

    /// The worst of many; valid when there are none (use [`Validity::combine_checked`] where
    /// "nothing was checked" must not pass).
    pub fn combine(all: impl IntoIterator<Item = Validity>) -> Validity {
        all.into_iter().fold(Validity::Valid, Validity::worst)
    }

    /// The worst of many; unknown when there are none, since nothing was checked.
    pub fn combine_checked(all: impl IntoIterator<Item = Validity>) -> Validity {
        let mut any = false;
        let v = all
            .into_iter()
            .inspect(|_| any = true)
            .fold(Validity::Valid, Validity::worst);
        if any {
            v
        } else {
            Validity::Unknown
        }
    }

    /// `valid`, `invalid` or `unknown`.
    pub fn label(self) -> &'static str {
        match self {
            Validity::Valid => "valid",
            Validity::Invalid => "invalid",
            Validity::Unknown => "unknown",
        }
    }

    /// Reads a label back (`valid`, `invalid`, `unknown`).
    pub fn from_label(s: &str) -> Option<Validity> {
        match s {
            "valid" => Some(Validity::Valid),
            "invalid" => Some(Validity::Invalid),
            "unknown" => Some(Validity::Unknown),
            _ => None,
        }
    }
}

impl std::fmt::Display for Validity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl Serialize for Validity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::Valid => s.serialize_bool(true),
            Validity::Invalid => s.serialize_bool(false),
            Validity::Unknown => s.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for Validity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Validity, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(true) => Ok(Validity::Valid),
            serde_json::Value::Bool(false) => Ok(Validity::Invalid),
            serde_json::Value::String(s) if s == "unknown" => Ok(Validity::Unknown),
            other => Err(serde::de::Error::custom(format!(
                "a verdict is true, false or \"unknown\", not {other}"
            ))),
        }
    }
}

/// Serde for fields that have always been written as labels (`"valid"`, `"invalid"`,
/// `"unknown"`), such as the set checker's report: `#[serde(with = "checkers::validity::as_label")]`.
pub mod as_label {
    use super::Validity;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Validity, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.label())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Validity, D::Error> {
        let s = String::deserialize(d)?;
        Validity::from_label(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("{s:?} is not valid, invalid or unknown"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_jepsens_valid_value() {
        let all = [Validity::Valid, Validity::Invalid, Validity::Unknown];
        for (v, j) in all.iter().zip(["true", "false", "\"unknown\""]) {
            assert_eq!(serde_json::to_string(v).unwrap(), j);
            assert_eq!(serde_json::from_str::<Validity>(j).unwrap(), *v);
        }
        assert!(serde_json::from_str::<Validity>("\"valid\"").is_err());
    }

    #[test]
    fn priority_is_invalid_then_unknown_then_valid() {
        use Validity::*;
        assert_eq!(Valid.worst(Unknown), Unknown);
        assert_eq!(Unknown.worst(Invalid), Invalid);
        assert_eq!(Invalid.worst(Valid), Invalid);
        assert_eq!(Validity::combine([]), Valid);
        assert_eq!(Validity::combine_checked([]), Unknown);
        assert_eq!(Validity::combine_checked([Valid, Valid]), Valid);
    }
}
