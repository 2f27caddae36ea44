//! What can be used of a query still being typed in Grafana's editor.

use crate::ast::{Query, RootExpr};
use crate::lexer::{Tok, Token, lex};
use crate::parse_valid;

/// Longer inputs are only taken whole: the repair below tries many prefixes.
const MAX_LENIENT_LEN: usize = 4096;
/// Lexing retries and parse attempts before giving up.
const MAX_LEX_RETRIES: usize = 64;
const MAX_CANDIDATES: usize = 128;

/// What can be used of a possibly incomplete query typed in Grafana's editor
/// (`{ resource.service.name = "a" && span.` …): the largest valid spanset query obtained by
/// dropping incomplete trailing conditions and closing open brackets; `None` when nothing is
/// usable. Never panics.
pub fn lenient_parse(q: &str) -> Option<Query> {
    if let Some(query) = usable(q) {
        return Some(query);
    }
    if q.len() > MAX_LENIENT_LEN {
        return None;
    }
    // The longest prefix that lexes.
    let mut text = q;
    let mut toks = None;
    for _ in 0..MAX_LEX_RETRIES {
        match lex(text) {
            Ok(t) => {
                toks = Some(t);
                break;
            }
            Err(e) => {
                let mut cut = e.pos.min(text.len().saturating_sub(1));
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text = &text[..cut];
            }
        }
    }
    let toks: Vec<Token> = toks?.into_iter().filter(|t| t.tok != Tok::Eof).collect();
    let m = toks.len();
    let mut tried = 0;
    for k in (1..=m).rev() {
        let boundary = k == m
            || matches!(
                toks[k].tok,
                Tok::AndAnd | Tok::OrOr | Tok::Pipe | Tok::RBrace | Tok::RParen
            )
            || toks[k - 1].tok == Tok::LBrace;
        if !boundary {
            continue;
        }
        // A trailing field without its comparison is an incomplete condition.
        if k == m
            && matches!(
                toks[k - 1].tok,
                Tok::Attr(_) | Tok::Intrinsic(_) | Tok::Ident(_)
            )
        {
            continue;
        }
        let Some(closers) = closers(&toks[..k]) else {
            continue;
        };
        tried += 1;
        if tried > MAX_CANDIDATES {
            return None;
        }
        let candidate = format!("{} {closers}", &text[..toks[k - 1].end]);
        if let Some(query) = usable(&candidate) {
            return Some(query);
        }
    }
    None
}

/// A valid, supported spanset query.
fn usable(text: &str) -> Option<Query> {
    let q = parse_valid(text).ok()?;
    matches!(q.root, RootExpr::Pipeline(_)).then_some(q)
}

/// The brackets that close what `toks` leaves open, innermost first; `None` when they do not
/// nest.
fn closers(toks: &[Token]) -> Option<String> {
    let mut open = Vec::new();
    for t in toks {
        match t.tok {
            Tok::LBrace => open.push('}'),
            Tok::LParen => open.push(')'),
            Tok::LBracket => open.push(']'),
            Tok::RBrace | Tok::RParen | Tok::RBracket => {
                let want = match t.tok {
                    Tok::RBrace => '}',
                    Tok::RParen => ')',
                    _ => ']',
                };
                if open.pop() != Some(want) {
                    return None;
                }
            }
            _ => {}
        }
    }
    Some(open.iter().rev().collect())
}
