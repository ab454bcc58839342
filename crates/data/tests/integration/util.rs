use std::path::{Path, PathBuf};

use vigie_data::DatasetDef;

/// A definition from TOML text, for tests.
pub fn definition(toml: &str) -> DatasetDef {
    DatasetDef::from_toml(toml, Path::new("test.toml")).expect("test definition is valid")
}

/// A one-file dataset of `format` (a TOML `[format]` body) labelled malicious, plus extra TOML.
pub fn one_file_definition(format: &str, path: &str, extra: &str) -> DatasetDef {
    definition(&format!(
        "name = \"t\"\n{extra}\n[format]\n{format}\n[[files]]\npath = \"{path}\"\nlabel = \"malicious\"\n"
    ))
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write fixture");
    path
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}
