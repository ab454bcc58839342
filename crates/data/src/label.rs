//! The two classes every Vigie dataset is made of.

use std::fmt;
use std::str::FromStr;

/// The class of a request: benign (0) or malicious (1, the positive class of every metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Label {
    Benign = 0,
    Malicious = 1,
}

impl Label {
    /// Both labels, benign first (the order of every per-class table).
    pub const ALL: [Label; 2] = [Label::Benign, Label::Malicious];

    /// 0 for benign, 1 for malicious.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The name used in definitions, tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Label::Benign => "benign",
            Label::Malicious => "malicious",
        }
    }

    pub fn is_malicious(self) -> bool {
        self == Label::Malicious
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Label {
    type Err = String;

    /// Accepts the names and the usual synonyms found in labelled request datasets.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "benign" | "normal" | "good" | "0" => Ok(Label::Benign),
            "malicious" | "anomalous" | "attack" | "bad" | "1" => Ok(Label::Malicious),
            other => Err(format!(
                "unknown label {other:?} (expected benign/normal/good/0 or malicious/anomalous/attack/bad/1)"
            )),
        }
    }
}

impl serde::Serialize for Label {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Label {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_synonyms_and_rejects_others() {
        assert_eq!("Anomalous".parse::<Label>(), Ok(Label::Malicious));
        assert_eq!(" normal ".parse::<Label>(), Ok(Label::Benign));
        assert!("2".parse::<Label>().is_err());
        assert_eq!(Label::Malicious.as_u8(), 1);
    }
}
