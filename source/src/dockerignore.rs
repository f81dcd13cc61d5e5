//! `.dockerignore` parsing and matching with Docker's semantics.
//!
//! This follows the behaviour of moby's `patternmatcher` package (pattern compilation and the
//! `MatchesOrParentMatches` / `MatchesUsingParentResults` / deprecated `Matches` algorithms) and of
//! `patternmatcher/ignorefile.ReadAll` (file parsing):
//!
//! * an UTF-8 BOM on the first line is stripped; lines are split on `\n` (a trailing `\r` is dropped);
//! * lines whose first byte is `#` are comments (checked *before* trimming, as Docker does, so
//!   `  # x` is a pattern);
//! * leading and trailing whitespace is trimmed, blank lines are skipped;
//! * `!` marks an exception (whitespace after `!` is trimmed too); a lone `!` is an error;
//! * patterns are `filepath.Clean`ed and one leading `/` is stripped;
//! * `*` matches any run of non-`/` characters, `?` one non-`/` character, `[...]` / `[^...]`
//!   a character class (ranges, `\` escapes), `\x` the literal `x`;
//! * `**` matches any number of directories (`(.*/)?` in Docker's regexp), a trailing `**`
//!   anything; a *leading* `**` is compiled by Docker as a plain suffix test (`**foo` matches
//!   `xfoo`), which is reproduced;
//! * a pattern matching a directory excludes everything below it; later patterns win.
//!
//! Known divergence: Docker translates patterns to Go regexps without tracking `[...]`, so `*`
//! and `?` *inside* a character class become regexp fragments there (e.g. `[*]` is not a class of
//! `*`); here they are literal class members, which is what `filepath.Match` (Docker's validator)
//! means. POSIX classes like `[[:alpha:]]` are likewise not supported. Such patterns are
//! practically never written.

use std::fmt;

/// Why a pattern is invalid (mirrors `filepath.ErrBadPattern` / regexp compile errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// 1-based line in the `.dockerignore` (0 when patterns were given directly).
    pub line: usize,
    /// The offending pattern as written.
    pub pattern: String,
    /// Human-readable reason.
    pub reason: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: invalid pattern {:?}: {}", self.line, self.pattern, self.reason)
    }
}

impl std::error::Error for PatternError {}

/// One line of a `.dockerignore` after `ReadAll` normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreLine {
    /// 1-based line number.
    pub line: usize,
    /// Normalised pattern (with a leading `!` for exceptions).
    pub pattern: String,
}

/// Parse `.dockerignore` content into normalised patterns, like `ignorefile.ReadAll`.
pub fn read_patterns(content: &[u8]) -> Vec<IgnoreLine> {
    let mut out = Vec::new();
    let mut rest = content;
    let mut line_no = 0usize;
    let mut first = true;
    while !rest.is_empty() {
        let (mut line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        if first {
            first = false;
            if let Some(stripped) = line.strip_prefix(&[0xEF, 0xBB, 0xBF][..]) {
                line = stripped;
            }
        }
        line_no += 1;
        let text = String::from_utf8_lossy(line);
        if text.starts_with('#') {
            continue;
        }
        let mut pattern = text.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut normalised = String::new();
        if !pattern.is_empty() {
            let cleaned = clean(pattern);
            normalised = if cleaned.len() > 1 && cleaned.starts_with('/') { cleaned[1..].to_string() } else { cleaned };
        }
        if invert {
            normalised.insert(0, '!');
        }
        out.push(IgnoreLine { line: line_no, pattern: normalised });
    }
    out
}

/// Go's `path.Clean` (== `filepath.Clean` on Unix).
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[derive(Debug, Clone)]
enum Tok {
    Lit(char),
    /// `*` -> `[^/]*`
    Star,
    /// `?` -> `[^/]`
    Quest,
    /// `**` not at the end -> `(.*/)?`
    DirStar,
    /// trailing `**` after a regexp part -> `.*`
    AnyStar,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Tokens(Vec<Tok>),
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    cleaned: String,
    dir_count: usize,
    exclusion: bool,
    matcher: Matcher,
}

impl Pattern {
    /// The cleaned pattern text (without the leading `!`).
    pub fn as_str(&self) -> &str {
        &self.cleaned
    }

    /// Whether this is an exception (`!pattern`).
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    /// Does this single pattern match `path` (slash-separated, relative)?
    pub fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact(s) => path == s,
            Matcher::Prefix(p) => path.starts_with(p.as_str()),
            Matcher::Suffix(s) => path.ends_with(s.as_str()) || (s.starts_with('/') && path == &s[1..]),
            Matcher::Tokens(toks) => {
                let chars: Vec<char> = path.chars().collect();
                let mut failed = vec![false; (toks.len() + 1) * (chars.len() + 1)];
                match_toks(toks, &chars, 0, 0, &mut failed)
            }
        }
    }
}

fn match_toks(toks: &[Tok], s: &[char], ti: usize, ci: usize, failed: &mut [bool]) -> bool {
    let key = ti * (s.len() + 1) + ci;
    if failed.get(key).copied().unwrap_or(false) {
        return false;
    }
    let ok = match toks.get(ti) {
        None => ci == s.len(),
        Some(Tok::Lit(c)) => s.get(ci) == Some(c) && match_toks(toks, s, ti + 1, ci + 1, failed),
        Some(Tok::Quest) => s.get(ci).is_some_and(|&c| c != '/') && match_toks(toks, s, ti + 1, ci + 1, failed),
        Some(Tok::Class { negated, ranges }) => {
            s.get(ci).is_some_and(|&c| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated)
                && match_toks(toks, s, ti + 1, ci + 1, failed)
        }
        Some(Tok::Star) => {
            let mut k = ci;
            loop {
                if match_toks(toks, s, ti + 1, k, failed) {
                    break true;
                }
                match s.get(k) {
                    Some(&c) if c != '/' => k += 1,
                    _ => break false,
                }
            }
        }
        Some(Tok::AnyStar) => {
            let mut k = ci;
            loop {
                if match_toks(toks, s, ti + 1, k, failed) {
                    break true;
                }
                match s.get(k) {
                    Some(&c) if c != '\n' => k += 1,
                    _ => break false,
                }
            }
        }
        Some(Tok::DirStar) => {
            // (.*/)? : empty, or any run without newline that ends in '/'.
            if match_toks(toks, s, ti + 1, ci, failed) {
                true
            } else {
                let mut k = ci;
                let mut found = false;
                while let Some(&c) = s.get(k) {
                    if c == '\n' {
                        break;
                    }
                    k += 1;
                    if c == '/' && match_toks(toks, s, ti + 1, k, failed) {
                        found = true;
                        break;
                    }
                }
                found
            }
        }
    };
    if !ok {
        if let Some(slot) = failed.get_mut(key) {
            *slot = true;
        }
    }
    ok
}

/// Validate like `filepath.Match(p, ".")` (which reports any malformed pattern), plus the
/// regexp-compile failure Docker hits later for reversed ranges such as `[z-a]`.
fn validate(p: &[char]) -> Result<(), String> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err("trailing backslash".into());
                }
                i += 2;
            }
            '[' => {
                let (_, next) = parse_class(p, i + 1)?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Parse a class body starting right after `[`; returns the class and the index after `]`.
/// Syntax errors follow `filepath.Match`.
#[allow(clippy::type_complexity)]
fn parse_class(p: &[char], start: usize) -> Result<((bool, Vec<(char, char)>), usize), String> {
    let mut i = start;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if p.get(i) == Some(&']') && !ranges.is_empty() {
            return Ok(((negated, ranges), i + 1));
        }
        let (lo, ni) = class_char(p, i)?;
        i = ni;
        let mut hi = lo;
        if p.get(i) == Some(&'-') {
            let (h, ni) = class_char(p, i + 1)?;
            hi = h;
            i = ni;
        }
        if lo > hi {
            return Err(format!("invalid character class range {lo}-{hi}"));
        }
        ranges.push((lo, hi));
    }
}

fn class_char(p: &[char], i: usize) -> Result<(char, usize), String> {
    match p.get(i) {
        None => Err("unterminated character class".into()),
        Some('-') | Some(']') => Err("malformed character class".into()),
        Some('\\') => match p.get(i + 1) {
            Some(&c) => Ok((c, i + 2)),
            None => Err("unterminated character class".into()),
        },
        Some(&c) => Ok((c, i + 1)),
    }
}

/// Bytes Docker escapes when building its regexp (no effect on match type).
fn compile(cleaned: &str) -> Result<Matcher, String> {
    #[derive(PartialEq, Clone, Copy)]
    enum Ty {
        Exact,
        Prefix,
        Suffix,
        Regexp,
    }
    let p: Vec<char> = cleaned.chars().collect();
    validate(&p)?;
    let mut ty = Ty::Exact;
    let mut toks = Vec::new();
    let mut i = 0usize;
    let mut iter = 0usize;
    while i < p.len() {
        let ch = p[i];
        i += 1;
        match ch {
            '*' => {
                if p.get(i) == Some(&'*') {
                    i += 1;
                    if p.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i >= p.len() {
                        if ty == Ty::Exact {
                            ty = Ty::Prefix;
                        } else {
                            toks.push(Tok::AnyStar);
                            ty = Ty::Regexp;
                        }
                    } else {
                        toks.push(Tok::DirStar);
                        ty = Ty::Regexp;
                    }
                    if iter == 0 {
                        ty = Ty::Suffix;
                    }
                } else {
                    toks.push(Tok::Star);
                    ty = Ty::Regexp;
                }
            }
            '?' => {
                toks.push(Tok::Quest);
                ty = Ty::Regexp;
            }
            '\\' => {
                // validate() guarantees a following char
                if let Some(&c) = p.get(i) {
                    toks.push(Tok::Lit(c));
                    i += 1;
                    ty = Ty::Regexp;
                }
            }
            '[' => {
                let ((negated, ranges), next) = parse_class(&p, i)?;
                i = next;
                toks.push(Tok::Class { negated, ranges });
                ty = Ty::Regexp;
            }
            ']' => {
                toks.push(Tok::Lit(']'));
                ty = Ty::Regexp;
            }
            c => toks.push(Tok::Lit(c)),
        }
        iter += 1;
    }
    Ok(match ty {
        Ty::Exact => Matcher::Exact(cleaned.to_string()),
        Ty::Prefix => Matcher::Prefix(cleaned[..cleaned.len() - 2].to_string()),
        Ty::Suffix => Matcher::Suffix(cleaned[2..].to_string()),
        Ty::Regexp => Matcher::Tokens(toks),
    })
}

/// A list of compiled patterns (`patternmatcher.PatternMatcher`).
#[derive(Debug, Clone, Default)]
pub struct PatternMatcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

/// Per-pattern match results of a parent directory (`patternmatcher.MatchInfo`).
pub type MatchInfo = Vec<bool>;

impl PatternMatcher {
    /// Compile patterns like `patternmatcher.New` (trims, cleans, handles `!`).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PatternError> {
        Self::from_lines(patterns.iter().map(|p| (0, p.as_ref())))
    }

    /// Parse and compile `.dockerignore` content; errors carry the line number.
    pub fn from_dockerignore(content: &[u8]) -> Result<Self, PatternError> {
        let lines = read_patterns(content);
        Self::from_lines(lines.iter().map(|l| (l.line, l.pattern.as_str())))
    }

    fn from_lines<'a>(lines: impl Iterator<Item = (usize, &'a str)>) -> Result<Self, PatternError> {
        let mut pm = PatternMatcher::default();
        for (line, raw) in lines {
            pm.push(line, raw)?;
        }
        Ok(pm)
    }

    /// Append one pattern (as `New` would process it).
    pub fn push(&mut self, line: usize, raw: &str) -> Result<(), PatternError> {
        let err = |reason: String| PatternError { line, pattern: raw.to_string(), reason };
        let p = raw.trim();
        if p.is_empty() {
            return Ok(());
        }
        let p = clean(p);
        let (exclusion, body) = match p.strip_prefix('!') {
            Some("") => return Err(err("illegal exclusion pattern: \"!\"".into())),
            Some(rest) => (true, rest.to_string()),
            None => (false, p),
        };
        let matcher = compile(&body).map_err(err)?;
        self.exclusions |= exclusion;
        let dir_count = body.split('/').count();
        self.patterns.push(Pattern { cleaned: body, dir_count, exclusion, matcher });
        Ok(())
    }

    /// Whether any pattern is an exception.
    pub fn exclusions(&self) -> bool {
        self.exclusions
    }

    /// The compiled patterns in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// `MatchesOrParentMatches`: is `file` excluded (it or any parent matched, last pattern wins)?
    pub fn matches_or_parent_matches(&self, file: &str) -> bool {
        let parents = parent_dirs(file);
        let mut matched = false;
        for pat in &self.patterns {
            if pat.exclusion != matched {
                continue;
            }
            let m = pat.matches(file) || parents.iter().any(|d| pat.matches(d));
            if m {
                matched = !pat.exclusion;
            }
        }
        matched
    }

    /// The deprecated `patternmatcher.Matches(file, patterns)` (checks only the parent prefix with
    /// as many components as the pattern). Docker's CLI uses it to decide whether the Dockerfile
    /// and `.dockerignore` need a re-including `!` pattern.
    pub fn matches_deprecated(&self, file: &str) -> bool {
        let file = clean(file);
        if file == "." {
            return false;
        }
        let parent_comps: Vec<&str> = match file.rfind('/') {
            Some(i) => file[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for pat in &self.patterns {
            if pat.exclusion != matched {
                continue;
            }
            let mut m = pat.matches(&file);
            if !m && !parent_comps.is_empty() && pat.dir_count <= parent_comps.len() {
                m = pat.matches(&parent_comps[..pat.dir_count].join("/"));
            }
            if m {
                matched = !pat.exclusion;
            }
        }
        matched
    }

    /// `MatchesUsingParentResults`: like [`Self::matches_or_parent_matches`] but reusing the
    /// parent directory's per-pattern results (`None` for top-level entries). Returns whether
    /// `file` is excluded and this entry's [`MatchInfo`] for its children.
    pub fn matches_using_parent_results(&self, file: &str, parent: Option<&[bool]>) -> (bool, MatchInfo) {
        let parent = parent.filter(|p| p.len() == self.patterns.len());
        let mut info = vec![false; self.patterns.len()];
        let mut matched = false;
        for (i, pat) in self.patterns.iter().enumerate() {
            let mut m = parent.is_some_and(|p| p[i]);
            if !m {
                if pat.exclusion != matched {
                    continue;
                }
                m = pat.matches(file);
                if !m && parent.is_none() {
                    m = parent_dirs(file).iter().any(|d| pat.matches(d));
                }
            }
            info[i] = m;
            if m {
                matched = !pat.exclusion;
            }
        }
        (matched, info)
    }
}

/// "a/b/c" -> ["a", "a/b"]
fn parent_dirs(file: &str) -> Vec<&str> {
    file.match_indices('/').map(|(i, _)| &file[..i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(pattern: &str, text: &str) -> bool {
        let pm = PatternMatcher::new(&[pattern]).unwrap_or_else(|e| panic!("{pattern:?}: {e}"));
        pm.matches_or_parent_matches(text)
    }

    /// Emulates Docker walking down to `text`, feeding parent results.
    fn via_parents(pm: &PatternMatcher, text: &str) -> bool {
        let mut info: Option<MatchInfo> = None;
        for d in parent_dirs(text) {
            let (_, i) = pm.matches_using_parent_results(d, info.as_deref());
            info = Some(i);
        }
        pm.matches_using_parent_results(text, info.as_deref()).0
    }

    // From patternmatcher_test.go TestMatches.
    const MATCHES: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "file/", true),
        ("**/", "file", true),
        ("**/", "file/", true),
        ("**", "/", true),
        ("**/", "/", true),
        ("**", "dir/file", true),
        ("**/", "dir/file", true),
        ("**", "dir/file/", true),
        ("**/", "dir/file/", true),
        ("**/**", "dir/file", true),
        ("**/**", "dir/file/", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/file/", true),
        ("dir/**", "dir/dir2/file", true),
        ("dir/**", "dir/dir2/file/", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/*", "dir/dir2/file/", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file/", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("a\\\\", "a\\", true),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true),
        ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true),
        ("a\\*b", "a*b", true),
    ];

    const MULTI: &[(&[&str], &str, bool)] = &[
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (&["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", true),
        (
            &["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            false,
        ),
        (&["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false),
        (&["docs", "!docs/README.md"], "docs/README.md", false),
        (&["docs/", "!docs/README.md"], "docs/README.md", false),
        (&["docs/*", "!docs/README.md"], "docs/README.md", false),
        (&["*.go", "!fileutils.go"], "fileutils.go", false),
        (&["!fileutils.go", "*.go"], "fileutils.go", true),
    ];

    #[test]
    fn upstream_matches_table() {
        for &(pattern, text, want) in MATCHES {
            assert_eq!(single(pattern, text), want, "MatchesOrParentMatches pattern={pattern:?} text={text:?}");
            let pm = PatternMatcher::new(&[pattern]).unwrap();
            assert_eq!(via_parents(&pm, text), want, "MatchesUsingParentResults pattern={pattern:?} text={text:?}");
            assert_eq!(pm.matches_using_parent_results(text, None).0, want, "no context pattern={pattern:?} text={text:?}");
        }
    }

    #[test]
    fn upstream_multi_pattern_table() {
        for &(patterns, text, want) in MULTI {
            let pm = PatternMatcher::new(patterns).unwrap();
            assert_eq!(pm.matches_or_parent_matches(text), want, "patterns={patterns:?} text={text:?}");
            assert_eq!(via_parents(&pm, text), want, "via parents patterns={patterns:?} text={text:?}");
        }
    }

    // From patternmatcher_test.go matchTests (Go's filepath.Match tests), evaluated through the
    // deprecated `Matches`. `None` = ErrBadPattern expected.
    const MATCH_TESTS: &[(&str, &str, Option<bool>)] = &[
        ("abc", "abc", Some(true)),
        ("*", "abc", Some(true)),
        ("*c", "abc", Some(true)),
        ("a*", "a", Some(true)),
        ("a*", "abc", Some(true)),
        ("a*", "ab/c", Some(true)),
        ("a*/b", "abc/b", Some(true)),
        ("a*/b", "a/c/b", Some(false)),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true)),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false)),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
        ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)),
        ("a*b?c*x", "abxbbxdbxebxczzy", Some(false)),
        ("ab[c]", "abc", Some(true)),
        ("ab[b-d]", "abc", Some(true)),
        ("ab[e-g]", "abc", Some(false)),
        ("ab[^c]", "abc", Some(false)),
        ("ab[^b-d]", "abc", Some(false)),
        ("ab[^e-g]", "abc", Some(true)),
        ("a\\*b", "a*b", Some(true)),
        ("a\\*b", "ab", Some(false)),
        ("a?b", "a☺b", Some(true)),
        ("a[^a]b", "a☺b", Some(true)),
        ("a???b", "a☺b", Some(false)),
        ("a[^a][^a][^a]b", "a☺b", Some(false)),
        ("[a-ζ]*", "α", Some(true)),
        ("*[a-ζ]", "A", Some(false)),
        ("a?b", "a/b", Some(false)),
        ("a*b", "a/b", Some(false)),
        ("[\\]a]", "]", Some(true)),
        ("[\\-]", "-", Some(true)),
        ("[x\\-]", "x", Some(true)),
        ("[x\\-]", "-", Some(true)),
        ("[x\\-]", "z", Some(false)),
        ("[\\-x]", "x", Some(true)),
        ("[\\-x]", "-", Some(true)),
        ("[\\-x]", "a", Some(false)),
        ("[]a]", "]", None),
        ("[-]", "-", None),
        ("[x-]", "x", None),
        ("[x-]", "-", None),
        ("[x-]", "z", None),
        ("[-x]", "x", None),
        ("[-x]", "-", None),
        ("[-x]", "a", None),
        ("\\", "a", None),
        ("[a-b-c]", "a", None),
        ("[", "a", None),
        ("[^", "a", None),
        ("[^bc", "a", None),
        ("a[", "a", None),
        ("a[", "ab", None),
        ("*x", "xxx", Some(true)),
        // moby/moby#52203: passes filepath.Match but fails regexp compilation (l-O is reversed).
        ("[Local-Only]/", "x", None),
    ];

    #[test]
    fn upstream_filepath_match_table() {
        for &(pattern, text, want) in MATCH_TESTS {
            match (PatternMatcher::new(&[pattern]), want) {
                (Ok(pm), Some(w)) => assert_eq!(pm.matches_deprecated(text), w, "pattern={pattern:?} text={text:?}"),
                (Err(_), None) => {}
                (Ok(_), None) => panic!("pattern {pattern:?} should be rejected"),
                (Err(e), Some(_)) => panic!("pattern {pattern:?} rejected: {e}"),
            }
        }
    }

    #[test]
    fn upstream_misc() {
        // TestWildcardMatches / TestPatternMatches / whole directory
        assert!(PatternMatcher::new(&["*"]).unwrap().matches_deprecated("fileutils.go"));
        assert!(PatternMatcher::new(&["*.go"]).unwrap().matches_deprecated("fileutils.go"));
        assert!(!PatternMatcher::new(&["*.go"]).unwrap().matches_deprecated("."));
        assert!(PatternMatcher::new(&["!"]).is_err());
        assert!(!PatternMatcher::new::<&str>(&[]).unwrap().matches_deprecated("/any/path/there"));
        // Clean patterns: empty ones dropped, exclusion flag, surrounding spaces trimmed.
        assert_eq!(PatternMatcher::new(&["docs", "config", ""]).unwrap().patterns().len(), 2);
        assert!(PatternMatcher::new(&["docs", "!docs/README.md"]).unwrap().exclusions());
        assert!(PatternMatcher::new(&["docs", "  !docs/README.md"]).unwrap().exclusions());
        assert!(PatternMatcher::new(&["docs", "!docs/README.md  "]).unwrap().exclusions());
    }

    // Match types from TestCompile.
    #[test]
    fn upstream_compile_types() {
        let cases: &[(&str, &str)] = &[
            ("*", "re"),
            ("file*", "re"),
            ("**", "suffix"),
            ("**/**", "re"),
            ("dir/**", "prefix"),
            ("**/dir", "suffix"),
            ("**/dir2/*", "re"),
            ("**file", "suffix"),
            ("a[b-d]e", "re"),
            (".*", "re"),
            ("abc.def", "exact"),
            ("abc?def", "re"),
            ("**/foo/bar", "suffix"),
            ("a(b)c/def", "exact"),
            ("a.|)$(}+{bc", "exact"),
        ];
        for &(p, want) in cases {
            let got = match compile(&clean(p)).unwrap() {
                Matcher::Exact(_) => "exact",
                Matcher::Prefix(_) => "prefix",
                Matcher::Suffix(_) => "suffix",
                Matcher::Tokens(_) => "re",
            };
            assert_eq!(got, want, "pattern {p:?}");
        }
        // Docker quirk: a leading ** is a plain suffix test.
        assert!(single("**file", "dir/myfile"));
    }

    #[test]
    fn read_patterns_like_ignorefile() {
        let content = b"\xEF\xBB\xBF# comment\n\n  /abs/path  \r\n! spaced/\n  # not a comment\nfoo/../bar\n!\n./x//y/\n/\n";
        let got: Vec<(usize, String)> = read_patterns(content).into_iter().map(|l| (l.line, l.pattern)).collect();
        let want: Vec<(usize, String)> = vec![
            (3, "abs/path".into()),
            (4, "!spaced".into()),
            (5, "# not a comment".into()),
            (6, "bar".into()),
            (7, "!".into()),
            (8, "x/y".into()),
            (9, "/".into()),
        ];
        assert_eq!(got, want);
        let err = PatternMatcher::from_dockerignore(content).unwrap_err();
        assert_eq!(err.line, 7);
        let err = PatternMatcher::from_dockerignore(b"ok\n\nsrc/[z-a]\n").unwrap_err();
        assert_eq!(err.line, 3);
    }

    #[test]
    fn go_clean() {
        for (i, o) in [
            ("", "."),
            ("a/b/", "a/b"),
            ("a//b", "a/b"),
            ("./a", "a"),
            ("a/./b/..", "a"),
            ("../a", "../a"),
            ("a/../../b", "../b"),
            ("/../a", "/a"),
            ("/", "/"),
            ("abc/def/../../..", ".."),
        ] {
            assert_eq!(clean(i), o, "clean({i:?})");
        }
    }

    #[test]
    fn later_patterns_win_and_dir_excludes_children() {
        let pm = PatternMatcher::new(&["node_modules", "*.log", "!keep.log", "build/**", "!build/out/*.bin", "build/out/x.bin"]).unwrap();
        assert!(pm.matches_or_parent_matches("node_modules/a/b.js"));
        assert!(pm.matches_or_parent_matches("a.log"));
        assert!(!pm.matches_or_parent_matches("keep.log"));
        assert!(!pm.matches_or_parent_matches("sub/a.log"), "* does not cross /");
        assert!(pm.matches_or_parent_matches("build/a"));
        assert!(!pm.matches_or_parent_matches("build/out/y.bin"));
        assert!(pm.matches_or_parent_matches("build/out/x.bin"));
        let pm = PatternMatcher::new(&["**/*.pyc", "a/**/b"]).unwrap();
        assert!(pm.matches_or_parent_matches("x/y/z.pyc"));
        assert!(pm.matches_or_parent_matches("z.pyc"));
        assert!(pm.matches_or_parent_matches("a/b"));
        assert!(pm.matches_or_parent_matches("a/x/y/b/c"));
        assert!(!pm.matches_or_parent_matches("a/xb"));
    }
}
