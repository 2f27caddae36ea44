//! Text to tokens, each with its byte offset. Attribute references (`span.a`, `."a b"`) and
//! scoped intrinsics (`span:name`) are single tokens; words are left to the parser.

use crate::ast::{Attribute, Intrinsic, Scope};
use crate::error::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Pipe,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Re,
    NotRe,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    AndAnd,
    OrOr,
    Not,
    Desc,
    Anc,
    Tilde,
    NotGt,
    NotLt,
    NotDesc,
    NotAnc,
    UnionGt,
    UnionLt,
    UnionDesc,
    UnionAnc,
    UnionTilde,
    /// Unsigned: the parser folds a leading `-` (so `-9223372036854775808` fits).
    Int(u64),
    Float(f64),
    /// Nanoseconds, unsigned like `Int`.
    Duration(u64),
    Str(String),
    Ident(String),
    Intrinsic(Intrinsic),
    Attr(Attribute),
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) pos: usize,
    pub(crate) end: usize,
}

/// Characters that end an unquoted attribute name.
pub(crate) fn ends_attribute(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '{' | '}' | '(' | ')' | '=' | '~' | '!' | '<' | '>' | '&' | '|' | '^' | ',' | '"'
        )
}

const SCOPED_INTRINSIC_PREFIXES: [&str; 5] = ["trace", "span", "event", "link", "instrumentation"];

pub(crate) fn lex(src: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer { src, pos: 0 };
    let mut out = Vec::new();
    loop {
        lx.skip_ws();
        let start = lx.pos;
        let Some(c) = lx.peek() else {
            out.push(Token {
                tok: Tok::Eof,
                pos: start,
                end: start,
            });
            return Ok(out);
        };
        let tok = lx.token(c)?;
        out.push(Token {
            tok,
            pos: start,
            end: lx.pos,
        });
    }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn err(&self, pos: usize, expected: &str) -> ParseError {
        let found = match self.src[pos..].chars().next() {
            Some(c) => format!("{:?}", c.to_string()),
            None => "end of input".to_owned(),
        };
        ParseError::new(pos, expected, found)
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn token(&mut self, c: char) -> Result<Tok, ParseError> {
        let start = self.pos;
        // Longest operators first.
        const OPS: [(&str, Tok); 37] = [
            ("!>>", Tok::NotDesc),
            ("!<<", Tok::NotAnc),
            ("&>>", Tok::UnionDesc),
            ("&<<", Tok::UnionAnc),
            ("!=", Tok::Ne),
            ("!~", Tok::NotRe),
            ("!>", Tok::NotGt),
            ("!<", Tok::NotLt),
            ("&&", Tok::AndAnd),
            ("&>", Tok::UnionGt),
            ("&<", Tok::UnionLt),
            ("&~", Tok::UnionTilde),
            ("||", Tok::OrOr),
            (">>", Tok::Desc),
            ("<<", Tok::Anc),
            (">=", Tok::Ge),
            ("<=", Tok::Le),
            ("=~", Tok::Re),
            ("{", Tok::LBrace),
            ("}", Tok::RBrace),
            ("(", Tok::LParen),
            (")", Tok::RParen),
            ("[", Tok::LBracket),
            ("]", Tok::RBracket),
            (",", Tok::Comma),
            ("|", Tok::Pipe),
            ("=", Tok::Eq),
            (">", Tok::Gt),
            ("<", Tok::Lt),
            ("+", Tok::Plus),
            ("-", Tok::Minus),
            ("*", Tok::Star),
            ("/", Tok::Slash),
            ("%", Tok::Percent),
            ("^", Tok::Caret),
            ("!", Tok::Not),
            ("~", Tok::Tilde),
        ];
        for (text, tok) in OPS {
            if self.eat(text) {
                return Ok(tok);
            }
        }
        match c {
            '"' => self.string(),
            '`' => {
                self.bump();
                let body_start = self.pos;
                match self.rest().find('`') {
                    Some(n) => {
                        let s = self.src[body_start..body_start + n].to_owned();
                        self.pos = body_start + n + 1;
                        Ok(Tok::Str(s))
                    }
                    None => Err(ParseError::new(start, "closing `", "end of input")),
                }
            }
            '.' => {
                self.bump();
                self.attribute(Scope::None, false)
            }
            '0'..='9' => self.number(),
            c if c.is_alphabetic() || c == '_' => self.word(start),
            _ => Err(self.err(start, "a token")),
        }
    }

    fn string(&mut self) -> Result<Tok, ParseError> {
        let start = self.pos;
        self.bump();
        let mut s = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => return Err(ParseError::new(start, "closing \"", "end of input")),
                Some('"') => return Ok(Tok::Str(s)),
                Some('\\') => {
                    let e = self
                        .bump()
                        .ok_or_else(|| ParseError::new(at, "escape", "end of input"))?;
                    let c = match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        'a' => '\u{7}',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'v' => '\u{b}',
                        '\\' => '\\',
                        '"' => '"',
                        '\'' => '\'',
                        'x' => self.hex_escape(at, 2)?,
                        'u' => self.hex_escape(at, 4)?,
                        'U' => self.hex_escape(at, 8)?,
                        '0'..='7' => {
                            let mut v = e as u32 - '0' as u32;
                            for _ in 0..2 {
                                match self.bump() {
                                    Some(d @ '0'..='7') => v = v * 8 + (d as u32 - '0' as u32),
                                    _ => return Err(self.err(at, "octal escape")),
                                }
                            }
                            ascii_or_err(v, at)?
                        }
                        _ => return Err(self.err(at, "escape")),
                    };
                    s.push(c);
                }
                Some(c) => s.push(c),
            }
        }
    }

    fn hex_escape(&mut self, at: usize, digits: usize) -> Result<char, ParseError> {
        let mut v: u32 = 0;
        for _ in 0..digits {
            match self.bump().and_then(|d| d.to_digit(16)) {
                Some(d) => v = v * 16 + d,
                None => return Err(self.err(at, "hex escape")),
            }
        }
        if digits == 2 {
            return ascii_or_err(v, at);
        }
        char::from_u32(v).ok_or_else(|| self.err(at, "valid code point"))
    }

    /// After the prefix dot: an unquoted run and/or quoted parts.
    fn attribute(&mut self, scope: Scope, parent: bool) -> Result<Tok, ParseError> {
        let mut scope = scope;
        if parent {
            if self.eat("resource.") {
                scope = Scope::Resource;
            } else if self.eat("span.") {
                scope = Scope::Span;
            }
        }
        let mut name = String::new();
        loop {
            match self.peek() {
                Some('"') => {
                    let at = self.pos;
                    self.bump();
                    loop {
                        match self.bump() {
                            None => {
                                return Err(ParseError::new(at, "closing \"", "end of input"));
                            }
                            Some('"') => break,
                            Some('\\') => match self.bump() {
                                Some(c @ ('"' | '\\')) => name.push(c),
                                _ => return Err(self.err(at, "\\\" or \\\\ escape")),
                            },
                            Some(c) => name.push(c),
                        }
                    }
                }
                Some(c) if !ends_attribute(c) => {
                    name.push(c);
                    self.bump();
                }
                _ => break,
            }
        }
        if name.is_empty() {
            return Err(self.err(self.pos, "attribute name"));
        }
        Ok(Tok::Attr(Attribute {
            scope,
            parent,
            name,
        }))
    }

    fn word_at_cursor(&mut self) -> &str {
        let s = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.bump();
        }
        &self.src[s..self.pos]
    }

    fn word(&mut self, start: usize) -> Result<Tok, ParseError> {
        let word = self.word_at_cursor().to_owned();
        match self.peek() {
            Some('.') => {
                let scope = match word.as_str() {
                    "span" => Some((Scope::Span, false)),
                    "resource" => Some((Scope::Resource, false)),
                    "event" => Some((Scope::Event, false)),
                    "link" => Some((Scope::Link, false)),
                    "instrumentation" => Some((Scope::Instrumentation, false)),
                    "parent" => Some((Scope::None, true)),
                    _ => None,
                };
                if let Some((scope, parent)) = scope {
                    self.bump();
                    return self.attribute(scope, parent);
                }
            }
            Some(':') if SCOPED_INTRINSIC_PREFIXES.contains(&word.as_str()) => {
                self.bump();
                let name = self.word_at_cursor().to_owned();
                let full = format!("{word}:{name}");
                return Intrinsic::from_text(&full)
                    .map(Tok::Intrinsic)
                    .ok_or_else(|| ParseError::new(start, "intrinsic", format!("{full:?}")));
            }
            _ => {}
        }
        Ok(Tok::Ident(word))
    }

    fn digits(&mut self) -> &str {
        let s = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        &self.src[s..self.pos]
    }

    fn number(&mut self) -> Result<Tok, ParseError> {
        let start = self.pos;
        let mut total: u64 = 0;
        let mut first = true;
        loop {
            let int_start = self.pos;
            self.digits();
            let is_float =
                self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit());
            if is_float {
                self.bump();
                self.digits();
            }
            let text = &self.src[int_start..self.pos];
            let unit = self.unit();
            let Some(unit) = unit else {
                if !first {
                    return Err(self.err(self.pos, "duration unit"));
                }
                if self.peek().is_some_and(|c| c.is_alphabetic() || c == '_') {
                    return Err(self.err(self.pos, "duration unit"));
                }
                return if is_float {
                    let v: f64 = text.parse().map_err(|_| self.err(start, "number"))?;
                    if v.is_finite() {
                        Ok(Tok::Float(v))
                    } else {
                        Err(ParseError::new(start, "finite number", text))
                    }
                } else {
                    text.parse::<u64>()
                        .map(Tok::Int)
                        .map_err(|_| ParseError::new(start, "integer in range", text))
                };
            };
            first = false;
            let part = if is_float {
                let (i, f) = text.split_once('.').unwrap_or((text, "0"));
                let i: u64 = i
                    .parse()
                    .map_err(|_| ParseError::new(start, "duration in range", text))?;
                let frac: f64 = format!("0.{f}").parse().unwrap_or(0.0);
                i.checked_mul(unit)
                    .and_then(|n| n.checked_add((frac * unit as f64).round() as u64))
            } else {
                text.parse::<u64>().ok().and_then(|n| n.checked_mul(unit))
            };
            total = part
                .and_then(|p| total.checked_add(p))
                .filter(|&t| t <= 1u64 << 63)
                .ok_or_else(|| {
                    ParseError::new(start, "duration in range", &self.src[start..self.pos])
                })?;
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                if self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    return Err(self.err(self.pos, "duration unit"));
                }
                return Ok(Tok::Duration(total));
            }
        }
    }

    /// A duration unit at the cursor, in nanoseconds.
    fn unit(&mut self) -> Option<u64> {
        const S: u64 = 1_000_000_000;
        const UNITS: [(&str, u64); 11] = [
            ("ns", 1),
            ("us", 1_000),
            ("µs", 1_000),
            ("μs", 1_000),
            ("ms", 1_000_000),
            ("s", S),
            ("m", 60 * S),
            ("h", 3600 * S),
            ("d", 86_400 * S),
            ("w", 7 * 86_400 * S),
            ("y", 365 * 86_400 * S),
        ];
        let rest = self.rest();
        let word_len = rest
            .char_indices()
            .find(|&(_, c)| !(c.is_alphabetic() || c == '_'))
            .map_or(rest.len(), |(i, _)| i);
        let word = &rest[..word_len];
        let (_, n) = UNITS.iter().find(|(u, _)| *u == word)?;
        self.pos += word_len;
        Some(*n)
    }
}

fn ascii_or_err(v: u32, at: usize) -> Result<char, ParseError> {
    if v < 0x80 {
        Ok(char::from_u32(v).unwrap_or('\0'))
    } else {
        Err(ParseError::new(at, "ASCII byte escape", format!("{v:#x}")))
    }
}
