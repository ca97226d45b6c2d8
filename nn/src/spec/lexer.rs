//! Splits a spec string into tokens, each with the byte offset where it starts.

use super::{spec_error, MAX_SPEC_BYTES, MAX_WORD_BYTES};
use crate::Result;

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// A run of letters, digits, `_`, `.`, `+`, `-`: a layer name, a child name, a number, `3x1`, `false`.
    Word(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Equals,
    /// The end of the input.
    End,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("`{w}`"),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Equals => "`=`".into(),
            Tok::End => "the end of the spec".into(),
        }
    }
}

/// A token and its byte offset in the spec.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-')
}

/// The tokens of `spec`, ending with [`Tok::End`].
pub(crate) fn tokenize(spec: &str) -> Result<Vec<Token>> {
    if spec.len() > MAX_SPEC_BYTES {
        return Err(crate::NnError::Spec(format!(
            "spec: the spec is {} bytes long; at most {MAX_SPEC_BYTES} are accepted",
            spec.len()
        )));
    }
    let mut out = Vec::new();
    let mut chars = spec.char_indices().peekable();
    while let Some((pos, c)) = chars.next() {
        let tok = match c {
            c if c.is_whitespace() => continue,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            ',' => Tok::Comma,
            '=' => Tok::Equals,
            c if is_word_char(c) => {
                let mut end = pos + c.len_utf8();
                while let Some(&(p, d)) = chars.peek() {
                    if !is_word_char(d) {
                        break;
                    }
                    end = p + d.len_utf8();
                    chars.next();
                }
                if end - pos > MAX_WORD_BYTES {
                    return Err(spec_error(
                        spec,
                        pos,
                        &format!("a word of {} characters; at most {MAX_WORD_BYTES} are accepted", end - pos),
                    ));
                }
                Tok::Word(spec[pos..end].to_string())
            }
            other => {
                return Err(spec_error(
                    spec,
                    pos,
                    &format!(
                        "unexpected character {other:?}; a spec uses layer names, numbers, `,`, `=`, `( )` and `[ ]`"
                    ),
                ))
            }
        };
        out.push(Token { tok, pos });
    }
    out.push(Token { tok: Tok::End, pos: spec.len() });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_numbers_and_pairs_whole() {
        let toks: Vec<Tok> = tokenize(" conv2d( 1,32, 3x1 ,eps=1e-5 )").unwrap().into_iter().map(|t| t.tok).collect();
        let w = |s: &str| Tok::Word(s.into());
        assert_eq!(
            toks,
            vec![
                w("conv2d"),
                Tok::LParen,
                w("1"),
                Tok::Comma,
                w("32"),
                Tok::Comma,
                w("3x1"),
                Tok::Comma,
                w("eps"),
                Tok::Equals,
                w("1e-5"),
                Tok::RParen,
                Tok::End
            ]
        );
    }

    #[test]
    fn odd_characters_are_refused_with_their_column() {
        let e = tokenize("relu;tanh").unwrap_err().to_string();
        assert!(e.contains("column 5") && e.contains("';'"), "{e}");
        assert!(tokenize("relu,ü").is_err());
    }
}
