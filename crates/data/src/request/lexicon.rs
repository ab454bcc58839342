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

use rustc_hash::{FxHashMap, FxHashSet};

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

/// A token as an integer, defined by its text alone so that equal texts have equal ids
/// whatever made them (the frame marker `^` and a `^` in a value are one token, as their
/// terms are one string): a one-char token is its code point, a longer one
/// [`LONG_TOKEN_BASE`] plus its place among the class tokens and then the words above.
pub type TokenId = u32;

/// First id of the tokens longer than one char: above every code point.
pub const LONG_TOKEN_BASE: TokenId = 0x11_0000;

/// Ids of the class tokens longer than one char (`w` and `0` are one-char tokens).
const HEX_ID: TokenId = LONG_TOKEN_BASE;
const OPAQUE_ID: TokenId = LONG_TOKEN_BASE + 1;
const DOTS_ID: TokenId = LONG_TOKEN_BASE + 2;
const CLASS_TOKENS: [&str; 3] = ["0x", "b64", ".."];

/// Bits a [`TokenId`] takes.
pub const TOKEN_ID_BITS: u32 = 22;

/// One token of a field: its text and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub text: &'a str,
    pub id: TokenId,
}

impl<'a> Token<'a> {
    const WORD: Token<'static> = Token::one_char("w");
    const NUMBER: Token<'static> = Token::one_char("0");
    const DOT: Token<'static> = Token::one_char(".");
    const EQUALS: Token<'static> = Token::one_char("=");
    const HEX: Token<'static> = Token {
        text: "0x",
        id: HEX_ID,
    };
    const OPAQUE: Token<'static> = Token {
        text: "b64",
        id: OPAQUE_ID,
    };
    const DOTS: Token<'static> = Token {
        text: "..",
        id: DOTS_ID,
    };

    /// A token of one ASCII char, at compile time.
    const fn one_char(text: &'static str) -> Token<'static> {
        Token {
            text,
            id: text.as_bytes()[0] as TokenId,
        }
    }

    /// The token `c`, spelt by `text`.
    fn char(text: &'a str, c: char) -> Self {
        Token {
            text,
            id: TokenId::from(c),
        }
    }
}

/// A token longer than one char: its id and which lexicons keep it as a word.
#[derive(Debug, Clone, Copy)]
struct LongToken {
    id: TokenId,
    in_values: bool,
    in_paths: bool,
}

/// Every token longer than one char (classes, then words), each once, in id order.
static LONG_TOKEN_TEXTS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut texts: Vec<&'static str> = CLASS_TOKENS.to_vec();
    for &word in SQL.iter().chain(SCRIPT).chain(SHELL) {
        if !texts.contains(&word) {
            texts.push(word);
        }
    }
    texts
});

static LONG_TOKENS: LazyLock<FxHashMap<&'static str, LongToken>> = LazyLock::new(|| {
    let value_words: FxHashSet<&str> = SQL.iter().chain(SCRIPT).chain(SHELL).copied().collect();
    (LONG_TOKEN_BASE..)
        .zip(LONG_TOKEN_TEXTS.iter())
        .map(|(id, &text)| {
            let token = LongToken {
                id,
                in_values: value_words.contains(text),
                in_paths: PATH_TARGETS.contains(&text),
            };
            (text, token)
        })
        .collect()
});

/// The id of the token spelt `text`, if the lexicon can make such a token.
pub fn token_id(text: &str) -> Option<TokenId> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(TokenId::from(c)),
        _ => LONG_TOKENS.get(text).map(|token| token.id),
    }
}

/// The text of the token `id` (see [`TokenId`]), written onto `out`.
pub fn push_token_text(id: TokenId, out: &mut String) {
    if let Some(c) = char::from_u32(id) {
        out.push(c);
    } else if let Some(text) = id
        .checked_sub(LONG_TOKEN_BASE)
        .and_then(|index| LONG_TOKEN_TEXTS.get(index as usize))
    {
        out.push_str(text);
    }
}

/// Longest word a lexicon keeps (every kept word is longer than one char).
const LONGEST_WORD: usize = longest_word(&[SQL, SCRIPT, SHELL]);

const fn longest_word(lists: &[&[&str]]) -> usize {
    let mut longest = 0;
    let mut list = 0;
    while list < lists.len() {
        let mut word = 0;
        while word < lists[list].len() {
            if lists[list][word].len() > longest {
                longest = lists[list][word].len();
            }
            word += 1;
        }
        list += 1;
    }
    longest
}

/// Which words a field keeps as themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lexicon {
    /// Values and payloads: SQL, script, markup and shell words.
    Value,
    /// Path segments and parameter names: traversal targets and interpreters only.
    Path,
}

impl Lexicon {
    /// The token of `word` when this lexicon keeps it.
    fn kept(self, word: &str) -> Option<Token<'_>> {
        if !(2..=LONGEST_WORD).contains(&word.len()) {
            // Most of a value's words (`w`, keys, names) are no lookup.
            return None;
        }
        let token = LONG_TOKENS.get(word)?;
        let kept = match self {
            Lexicon::Value => token.in_values,
            Lexicon::Path => token.in_paths,
        };
        kept.then_some(Token {
            text: word,
            id: token.id,
        })
    }
}

/// Shortest token read as opaque (`b64`) rather than as a word.
const OPAQUE_MIN_LEN: usize = 16;

/// Calls `emit` with each token of a canonical field (see the module docs): kept words and
/// punctuation as themselves, other tokens as their class. Whitespace separates tokens.
pub fn for_each_token<'a>(canonical: &'a str, lexicon: Lexicon, mut emit: impl FnMut(Token<'a>)) {
    if lexicon == Lexicon::Path {
        for_each_path_token(canonical, &mut emit);
        return;
    }
    for_each_value_token(canonical, lexicon, &mut emit);
}

/// A path's tokens: a plain name (letters, digits, `-`, `_`, `.`, `~`, as `jquery-ui-1.7.2.js`
/// or `com-img-global.jpg`) is one `w` unless it holds a traversal target (`cmd.exe`,
/// `boot.ini`), which keeps its tokens; `..`, `/` and every other character stay themselves.
fn for_each_path_token<'a>(canonical: &'a str, emit: &mut impl FnMut(Token<'a>)) {
    let mut at = 0;
    while at < canonical.len() {
        let rest = &canonical[at..];
        let name_len = rest
            .char_indices()
            .find(|&(_, c)| !is_name_char(c))
            .map_or(rest.len(), |(i, _)| i);
        if name_len == 0 {
            let Some(c) = rest.chars().next() else { break };
            let len = c.len_utf8();
            if c != ' ' {
                emit(Token::char(&rest[..len], c));
            }
            at += len;
            continue;
        }
        let name = &rest[..name_len];
        let dots_only = name.bytes().all(|b| b == b'.');
        if dots_only {
            emit(if name.len() >= 2 {
                Token::DOTS
            } else {
                Token::DOT
            });
        } else if has_path_target(name) {
            for_each_value_token(name, Lexicon::Path, emit);
        } else {
            emit(Token::WORD);
        }
        at += name_len;
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '~')
}

fn has_path_target(name: &str) -> bool {
    name.split(|c: char| !c.is_alphanumeric())
        .any(|word| Lexicon::Path.kept(word).is_some())
}

fn for_each_value_token<'a>(
    canonical: &'a str,
    lexicon: Lexicon,
    emit: &mut impl FnMut(Token<'a>),
) {
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
            emit(Token::OPAQUE);
            at += len;
            continue;
        }
        if is_word_char(c) {
            let len = rest
                .char_indices()
                .find(|&(_, d)| !(is_word_char(d) || d.is_ascii_digit()))
                .map_or(rest.len(), |(i, _)| i);
            let word = &rest[..len];
            emit(match lexicon.kept(word) {
                Some(token) => operator_class(token),
                None if is_opaque(word) => Token::OPAQUE,
                None => Token::WORD,
            });
            at += len;
        } else if c.is_ascii_digit() {
            let hex = bytes.get(at + 1) == Some(&b'x')
                && c == '0'
                && bytes.get(at + 2).is_some_and(u8::is_ascii_hexdigit);
            let (class, len) = if hex {
                (
                    Token::HEX,
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
                    let class = if is_opaque(&rest[..len]) {
                        Token::OPAQUE
                    } else {
                        Token::WORD
                    };
                    (class, len)
                } else {
                    (Token::NUMBER, digits)
                }
            };
            emit(class);
            at += len;
        } else if let Some(token) = doubled_logic_operator(rest, lexicon) {
            emit(token);
            at += 2;
        } else {
            let len = c.len_utf8();
            emit(Token::char(&rest[..len], c));
            at += len;
        }
    }
}

/// Spellings of one operator that injections swap for each other read as one token: `like`,
/// `rlike` and `regexp` as `=` (`1 like 1` is `1=1` to the model, as to the database).
fn operator_class(token: Token<'_>) -> Token<'_> {
    match token.text {
        "like" | "rlike" | "regexp" => Token::EQUALS,
        _ => token,
    }
}

/// `||` and `&&` in a value, as the `or` and `and` they mean in SQL (MySQL) and script.
fn doubled_logic_operator(rest: &str, lexicon: Lexicon) -> Option<Token<'static>> {
    if lexicon != Lexicon::Value {
        return None;
    }
    let word = match rest.as_bytes().get(..2)? {
        b"||" => "or",
        b"&&" => "and",
        _ => return None,
    };
    lexicon.kept(word)
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
        for_each_token(canonical, lexicon, |t| {
            assert_eq!(token_id(t.text), Some(t.id), "{t:?}");
            out.push(t.text.to_string())
        });
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
    fn swapped_spellings_of_an_operator_are_one_token() {
        let equals = tokens("1=1", Lexicon::Value);
        for spelling in ["1 like 1", "1 rlike 1", "1 regexp 1"] {
            assert_eq!(tokens(spelling, Lexicon::Value), equals, "{spelling}");
        }
        assert_eq!(
            tokens("a||b&&c", Lexicon::Value),
            tokens("a or b and c", Lexicon::Value)
        );
        assert_eq!(tokens("a|b&c", Lexicon::Value), ["w", "|", "w", "&", "w"]);
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
    fn every_kept_word_is_within_the_lengths_looked_up() {
        for word in SQL.iter().chain(SCRIPT).chain(SHELL) {
            assert!((2..=LONGEST_WORD).contains(&word.len()), "{word}");
        }
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

    proptest::proptest! {
        #[test]
        fn a_token_id_names_its_text(
            canonical in "\\PC{0,40}|[a-z0-9_.@$ /<>'=-]{0,40}|(select|union|etc|passwd|0x1f|[.]{1,3}|/| ){0,8}",
            path in proptest::bool::ANY,
        ) {
            let lexicon = if path { Lexicon::Path } else { Lexicon::Value };
            for_each_token(&canonical, lexicon, |token| {
                let mut text = String::new();
                push_token_text(token.id, &mut text);
                assert_eq!(text, token.text);
                assert_eq!(token_id(token.text), Some(token.id));
            });
        }
    }
}
