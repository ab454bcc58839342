//! Words that are evidence wherever they appear (SQL, script and markup, shell, file-system
//! targets) and the classes every other token of a canonical field falls into.
//!
//! A field's tokens keep these words and punctuation as they are and reduce everything else
//! to its shape: `w` for any other word, `0` for a number, `0x` for a hexadecimal literal, `b64`
//! for a long opaque token (session keys, base64). A site's own vocabulary (`skypearl`,
//! `memberArea`, `scripts` as a folder) is then no evidence either way, so a model trained on
//! other sites cannot learn it; the syntax of an injection (`' or 0=0 --`, `< script >`,
//! `; cat / etc / passwd`) is what remains.

use std::sync::LazyLock;

use rustc_hash::FxHashSet;

/// SQL keywords, functions and catalogue names that injections use.
const SQL: &[&str] = &[
    "select",
    "union",
    "from",
    "where",
    "and",
    "or",
    "not",
    "xor",
    "insert",
    "update",
    "delete",
    "drop",
    "table",
    "sleep",
    "benchmark",
    "waitfor",
    "delay",
    "concat",
    "concat_ws",
    "group_concat",
    "char",
    "chr",
    "information_schema",
    "table_name",
    "column_name",
    "tables",
    "columns",
    "null",
    "exec",
    "execute",
    "xp_cmdshell",
    "having",
    "order",
    "by",
    "group",
    "limit",
    "offset",
    "like",
    "rlike",
    "regexp",
    "into",
    "outfile",
    "dumpfile",
    "load_file",
    "version",
    "database",
    "user",
    "substring",
    "substr",
    "mid",
    "ascii",
    "case",
    "when",
    "then",
    "else",
    "end",
    "cast",
    "convert",
    "declare",
    "if",
    "ifnull",
    "count",
    "md5",
    "pg_sleep",
    "dbms_pipe",
    "receive_message",
    "sysobjects",
    "syscolumns",
    "master",
    "all",
    "distinct",
    "as",
    "is",
    "in",
    "between",
    "procedure",
    "analyse",
    "extractvalue",
    "updatexml",
    "floor",
    "rand",
    "hex",
    "unhex",
    "schema",
    "current_user",
    "nvarchar",
    "varchar",
    "shutdown",
    "truncate",
    "alter",
    "create",
    "grant",
    "values",
    "set",
    "rownum",
    "dual",
    "sys",
    "sysdate",
    "utl_inaddr",
    "get_host_name",
    "ctxsys",
    "drithsx",
    "quarter",
    "elt",
    "make_set",
    "row",
    "iif",
    "exp",
    "json_keys",
    "sqlite_master",
    "pg_catalog",
    "current_database",
    "char_length",
    "length",
    "len",
    "top",
    "union",
    "@@version",
    "@@datadir",
    "system_user",
    "session_user",
];

/// HTML tags and attributes, event handlers and script words that cross-site scripting uses.
const SCRIPT: &[&str] = &[
    "script",
    "alert",
    "prompt",
    "confirm",
    "onerror",
    "onload",
    "onmouseover",
    "onfocus",
    "onclick",
    "onmouseout",
    "onblur",
    "onchange",
    "onsubmit",
    "onstart",
    "onbegin",
    "onanimationstart",
    "ontoggle",
    "onpointerover",
    "onmouseenter",
    "onkeydown",
    "onkeyup",
    "oninput",
    "img",
    "src",
    "iframe",
    "frame",
    "frameset",
    "javascript",
    "vbscript",
    "livescript",
    "document",
    "cookie",
    "eval",
    "svg",
    "body",
    "style",
    "expression",
    "href",
    "window",
    "location",
    "fromcharcode",
    "innerhtml",
    "write",
    "meta",
    "http",
    "equiv",
    "object",
    "embed",
    "applet",
    "link",
    "import",
    "base64",
    "data",
    "srcdoc",
    "marquee",
    "input",
    "form",
    "action",
    "formaction",
    "background",
    "dynsrc",
    "lowsrc",
    "bgsound",
    "div",
    "xmp",
    "details",
    "open",
    "settimeout",
    "setinterval",
    "constructor",
    "atob",
    "fetch",
    "xmlhttprequest",
    "string",
    "top",
    "self",
    "parent",
    "this",
    "url",
    "xlink",
    "animate",
    "set",
    "video",
    "audio",
    "source",
    "math",
    "textarea",
    "select",
    "keygen",
    "isindex",
    "template",
    "on",
    "xss",
];

/// Shell commands and file-system names that command injection and traversal reach for.
const SHELL: &[&str] = &[
    "cat",
    "ls",
    "wget",
    "curl",
    "bash",
    "sh",
    "zsh",
    "cmd",
    "echo",
    "whoami",
    "id",
    "uname",
    "passwd",
    "shadow",
    "etc",
    "bin",
    "ping",
    "nc",
    "ncat",
    "netcat",
    "telnet",
    "powershell",
    "system32",
    "win",
    "ini",
    "boot",
    "exe",
    "dir",
    "rm",
    "mkdir",
    "chmod",
    "chown",
    "tmp",
    "proc",
    "self",
    "environ",
    "windows",
    "winnt",
    "usr",
    "var",
    "hosts",
    "type",
    "ipconfig",
    "ifconfig",
    "net",
    "perl",
    "python",
    "php",
    "phpinfo",
    "system",
    "shell_exec",
    "passthru",
    "popen",
    "proc_open",
    "include",
    "require",
    "base64_decode",
    "file",
    "ftp",
    "gopher",
    "expect",
    "dev",
    "tcp",
    "nslookup",
    "sleep",
    "ifs",
    "kill",
    "reboot",
    "touch",
    "head",
    "tail",
    "more",
    "less",
    "find",
    "grep",
    "awk",
    "sed",
    "xargs",
    "nohup",
    "chr",
    "ord",
    "boot.ini",
    "cmd.exe",
    "htaccess",
    "htpasswd",
    "config",
    "conf",
    "log",
    "logs",
    "root",
];

/// The words of [`SHELL`] that also mean an attack in a path: traversal targets and
/// interpreters. Script and SQL words in a path (`/scripts/`, `/select/`) are a site's folders.
const PATH_TARGETS: &[&str] = &[
    "passwd", "shadow", "etc", "bin", "system32", "win", "ini", "boot", "cmd", "exe", "proc",
    "self", "environ", "windows", "winnt", "hosts", "htaccess", "htpasswd", "sh", "bash", "dev",
    "tcp", "root", "usr", "tmp", "var",
];

static VALUE_WORDS: LazyLock<FxHashSet<&'static str>> =
    LazyLock::new(|| SQL.iter().chain(SCRIPT).chain(SHELL).copied().collect());

static PATH_WORDS: LazyLock<FxHashSet<&'static str>> =
    LazyLock::new(|| PATH_TARGETS.iter().copied().collect());

/// Which words a field keeps as themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lexicon {
    /// Values and payloads: SQL, script, markup and shell words.
    Value,
    /// Path segments and parameter names: traversal targets and interpreters only.
    Path,
}

impl Lexicon {
    fn keeps(self, word: &str) -> bool {
        match self {
            Lexicon::Value => VALUE_WORDS.contains(word),
            Lexicon::Path => PATH_WORDS.contains(word),
        }
    }
}

/// Shortest token read as opaque (`b64`) rather than as a word.
const OPAQUE_MIN_LEN: usize = 16;

/// Calls `emit` with each token of a canonical field (see the module docs): kept words and
/// punctuation as themselves, other tokens as their class. Whitespace separates tokens.
pub fn for_each_token<'a>(canonical: &'a str, lexicon: Lexicon, mut emit: impl FnMut(&'a str)) {
    if lexicon == Lexicon::Path {
        for_each_path_token(canonical, &mut emit);
        return;
    }
    for_each_value_token(canonical, lexicon, &mut emit);
}

/// A path's tokens: a plain name (letters, digits, `-`, `_`, `.`, `~`, as `jquery-ui-1.7.2.js`
/// or `com-img-global.jpg`) is one `w` unless it holds a traversal target (`cmd.exe`,
/// `boot.ini`), which keeps its tokens; `..`, `/` and every other character stay themselves.
fn for_each_path_token<'a>(canonical: &'a str, emit: &mut impl FnMut(&'a str)) {
    let mut at = 0;
    while at < canonical.len() {
        let rest = &canonical[at..];
        let name_len = rest
            .char_indices()
            .find(|&(_, c)| !is_name_char(c))
            .map_or(rest.len(), |(i, _)| i);
        if name_len == 0 {
            let len = rest.chars().next().map_or(1, char::len_utf8);
            if &rest[..len] != " " {
                emit(&rest[..len]);
            }
            at += len;
            continue;
        }
        let name = &rest[..name_len];
        let dots_only = name.bytes().all(|b| b == b'.');
        if dots_only {
            emit(if name.len() >= 2 { ".." } else { "." });
        } else if has_path_target(name) {
            for_each_value_token(name, Lexicon::Path, emit);
        } else {
            emit("w");
        }
        at += name_len;
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '~')
}

fn has_path_target(name: &str) -> bool {
    name.split(|c: char| !c.is_alphanumeric())
        .any(|word| Lexicon::Path.keeps(word))
}

fn for_each_value_token<'a>(canonical: &'a str, lexicon: Lexicon, emit: &mut impl FnMut(&'a str)) {
    let bytes = canonical.as_bytes();
    let mut at = 0;
    while at < canonical.len() {
        let rest = &canonical[at..];
        let Some(c) = rest.chars().next() else { break };
        if c == ' ' {
            at += 1;
            continue;
        }
        if let Some(len) = opaque_run(rest) {
            emit("b64");
            at += len;
            continue;
        }
        if is_word_char(c) {
            let len = rest
                .char_indices()
                .find(|&(_, d)| !(is_word_char(d) || d.is_ascii_digit()))
                .map_or(rest.len(), |(i, _)| i);
            let word = &rest[..len];
            if lexicon.keeps(word) {
                emit(word);
            } else if is_opaque(word) {
                emit("b64");
            } else {
                emit("w");
            }
            at += len;
        } else if c.is_ascii_digit() {
            let hex = bytes.get(at + 1) == Some(&b'x')
                && c == '0'
                && bytes.get(at + 2).is_some_and(u8::is_ascii_hexdigit);
            let (class, len) = if hex {
                (
                    "0x",
                    2 + rest[2..].bytes().take_while(u8::is_ascii_hexdigit).count(),
                )
            } else {
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                let word_after = rest[digits..].chars().next().is_some_and(is_word_char);
                if word_after {
                    // `3f9a2c…`, `1493630444524abc`: an identifier, not a number.
                    let len = rest
                        .char_indices()
                        .find(|&(_, d)| !(is_word_char(d) || d.is_ascii_digit()))
                        .map_or(rest.len(), |(i, _)| i);
                    (if is_opaque(&rest[..len]) { "b64" } else { "w" }, len)
                } else {
                    ("0", digits)
                }
            };
            emit(class);
            at += len;
        } else {
            let len = c.len_utf8();
            emit(&rest[..len]);
            at += len;
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '@' || c == '$'
}

/// The length of a base64 or key-like run at the start of `rest` (`[a-z0-9+/_-]` with its
/// `=` padding, long and mixing letters and digits), if there is one. `+` is there only when the
/// value kept it (a path, or an escaped `%2b`).
fn opaque_run(rest: &str) -> Option<usize> {
    let bytes = rest.as_bytes();
    if bytes.starts_with(b"0x") {
        return None;
    }
    let body = bytes
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-'))
        .count();
    let padding = bytes[body..]
        .iter()
        .take(2)
        .take_while(|&&b| b == b'=')
        .count();
    let run = &rest[..body];
    (body >= OPAQUE_MIN_LEN
        && run.bytes().any(|b| b.is_ascii_digit())
        && run.bytes().any(|b| b.is_ascii_alphabetic()))
    .then_some(body + padding)
}

/// A long token mixing letters and digits: a key, a hash or base64, not a word of a language.
fn is_opaque(token: &str) -> bool {
    token.len() >= OPAQUE_MIN_LEN
        && token.bytes().any(|b| b.is_ascii_digit())
        && token.bytes().any(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(canonical: &str, lexicon: Lexicon) -> Vec<String> {
        let mut out = Vec::new();
        for_each_token(canonical, lexicon, |t| out.push(t.to_string()));
        out
    }

    #[test]
    fn injection_syntax_survives_and_site_words_do_not() {
        assert_eq!(
            tokens("1' or 1=1 union select null,version()--", Lexicon::Value),
            [
                "0", "'", "or", "0", "=", "0", "union", "select", "null", ",", "version", "(", ")",
                "-", "-"
            ]
        );
        assert_eq!(
            tokens("<script>alert(1)</script>", Lexicon::Value)[..3],
            ["<", "script", ">"]
        );
        assert_eq!(tokens("showpage@login", Lexicon::Value), ["w"]);
        assert_eq!(tokens("0x41424344 3f9a2c", Lexicon::Value), ["0x", "w"]);
    }

    #[test]
    fn a_path_keeps_only_traversal_targets() {
        assert_eq!(tokens("scripts", Lexicon::Path), ["w"]);
        assert_eq!(tokens("script", Lexicon::Path), ["w"]);
        assert_eq!(
            tokens("/en/images/com-img-global.jpg", Lexicon::Path),
            ["/", "w", "/", "w", "/", "w"]
        );
        assert_eq!(
            tokens("/../../etc/passwd", Lexicon::Path),
            ["/", "..", "/", "..", "/", "etc", "/", "passwd"]
        );
        assert_eq!(tokens("cmd.exe", Lexicon::Path), ["cmd", ".", "exe"]);
        assert_eq!(
            tokens("a.php;jsessionid=x", Lexicon::Path),
            ["w", ";", "w", "=", "w"]
        );
    }

    #[test]
    fn opaque_tokens_are_one_class() {
        assert_eq!(
            tokens("l3nrexblyxjsl2nul21lbwjlckfyzwe=", Lexicon::Value),
            ["b64"]
        );
        assert_eq!(
            tokens("kyo/lptdyhyze8s4g59hzjsdibmky5o", Lexicon::Value),
            ["b64"]
        );
        assert_eq!(
            tokens("../../etc/passwd", Lexicon::Value)[..3],
            [".", ".", "/"]
        );
        assert_eq!(tokens("l3nrexblyxjsl2nul21pbgvh", Lexicon::Value), ["b64"]);
        assert_eq!(tokens("1493630444524", Lexicon::Value), ["0"]);
    }
}
