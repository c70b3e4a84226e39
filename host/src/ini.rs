//! The INI files of the Python relay and terminus, read the way Python's `ConfigParser` reads
//! them: `[Section]` headers (case-sensitive names), `key = value` or `key: value` lines
//! (case-insensitive keys, trimmed values), `#` and `;` comment lines. Indented continuation
//! lines, inline comments and `%` interpolation are not supported (no known config uses them).

/// A parsed INI file: its sections in file order, each with its `(key, value)` pairs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ini {
    sections: Vec<(String, Vec<(String, String)>)>,
}

impl Ini {
    /// Parses `text`. A line that is neither a header, a comment nor `key = value` is an
    /// error naming its line number; so is a key before the first header.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
        let mut current: Option<usize> = None;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let name = name.trim();
                // a repeated section continues the first (ConfigParser rejects it; be lenient)
                current = Some(match sections.iter().position(|(s, _)| s == name) {
                    Some(i) => i,
                    None => {
                        sections.push((name.to_owned(), Vec::new()));
                        sections.len() - 1
                    }
                });
                continue;
            }
            let Some(i) = line.find(['=', ':']) else {
                return Err(format!("line {}: expected key = value", n + 1));
            };
            let Some(current) = current.and_then(|i| sections.get_mut(i)) else {
                return Err(format!("line {}: key before the first [section]", n + 1));
            };
            let (key, value) = (line[..i].trim(), line[i + 1..].trim());
            // a repeated key: the last one wins, as in ConfigParser's non-strict mode
            current.1.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
            current.1.push((key.to_owned(), value.to_owned()));
        }
        Ok(Ini { sections })
    }

    /// Whether the file has section `name` (exact case, as in Python).
    pub fn has_section(&self, name: &str) -> bool {
        self.sections.iter().any(|(s, _)| s == name)
    }

    /// The value of `key` (any case) in `section`; `None` if absent, empty or the literal
    /// `None` (how the Python example files spell "unset").
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections
            .iter()
            .filter(|(s, _)| s == section)
            .flat_map(|(_, kv)| kv.iter())
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .filter(|v| *v != "None" && !v.is_empty())
    }

    /// The `(key, value)` pairs of `section` as written (nothing if it is absent).
    pub fn keys<'a>(&'a self, section: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.sections
            .iter()
            .filter(move |(s, _)| s == section)
            .flat_map(|(_, kv)| kv.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// Whether `section`'s `key` is the literal `True` (Python's comparison: `true` is not).
    pub fn is_true(&self, section: &str, key: &str) -> bool {
        self.get(section, key) == Some("True")
    }
}

/// Reads a daemon's config file, INI or TOML: INI when its name ends in `.ini`, `.conf` or
/// `.cfg`, or (unless it ends in `.toml`) when `looks_like_ini` says so of its text; the
/// error names the file.
pub fn load_config<T>(
    path: &std::path::Path,
    looks_like_ini: impl Fn(&str) -> bool,
    from_ini: impl Fn(&str) -> Result<T, String>,
    from_toml: impl Fn(&str) -> Result<T, String>,
) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let is_ini =
        matches!(ext.as_str(), "ini" | "conf" | "cfg") || (ext != "toml" && looks_like_ini(&text));
    let r = if is_ini {
        from_ini(&text)
    } else {
        from_toml(&text)
    };
    r.map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keys_comments_and_none() {
        let ini = Ini::parse(
            "# top\n[App]\nAccountPersistDir = /a\n; c\n[Listen]\nbindport: 11033\n\
             UseTLS = True\nCertFile = None\nEmpty =\n[App]\nLogDir = /l\nlogdir = /m\n",
        )
        .unwrap();
        assert!(ini.has_section("App") && ini.has_section("Listen") && !ini.has_section("app"));
        assert_eq!(ini.get("App", "accountpersistdir"), Some("/a"));
        assert_eq!(ini.get("App", "LogDir"), Some("/m"));
        assert_eq!(ini.get("Listen", "BindPort"), Some("11033"));
        assert_eq!(ini.get("Listen", "CertFile"), None);
        assert_eq!(ini.get("Listen", "Empty"), None);
        assert_eq!(ini.get("Nope", "x"), None);
        assert!(ini.is_true("Listen", "UseTLS"));
        assert_eq!(ini.keys("Listen").count(), 4);
    }

    #[test]
    fn malformed_lines_name_their_number() {
        assert_eq!(
            Ini::parse("[A]\nx = 1\njunk\n").unwrap_err(),
            "line 3: expected key = value"
        );
        assert!(Ini::parse("x = 1\n[A]\n").unwrap_err().contains("line 1"));
    }
}
