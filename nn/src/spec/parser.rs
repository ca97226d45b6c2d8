//! Recursive descent over the tokens: groups, names and layers with their arguments.
//!
//! ```text
//! list  := [ item { "," item } ]
//! item  := [ name "=" ] ( "[" list "]" | layer )
//! layer := word [ "(" [ arg { "," arg } ] ")" ]
//! arg   := [ word "=" ] word
//! ```

use super::layer::{layer_from_args, Arg};
use super::lexer::{Tok, Token};
use super::{spec_error, SpecItem, SpecNode, MAX_DEPTH, MAX_LAYERS};
use crate::Result;
use std::collections::HashSet;

pub(crate) struct Parser<'a> {
    spec: &'a str,
    tokens: Vec<Token>,
    at: usize,
    layers: usize,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(spec: &'a str, tokens: Vec<Token>) -> Self {
        Parser { spec, tokens, at: 0, layers: 0 }
    }

    fn peek(&self) -> &Token {
        // `tokens` always ends with `End`, and `at` never moves past it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn peek2(&self) -> &Tok {
        &self.tokens[(self.at + 1).min(self.tokens.len() - 1)].tok
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::End {
            self.at += 1;
        }
        t
    }

    fn fail<T>(&self, pos: usize, msg: &str) -> Result<T> {
        Err(spec_error(self.spec, pos, msg))
    }

    /// The whole spec: a top-level list followed by the end.
    pub(crate) fn parse_all(&mut self) -> Result<Vec<SpecItem>> {
        let items = self.list(0)?;
        let t = self.peek();
        match t.tok {
            Tok::End => Ok(items),
            Tok::RBracket => self.fail(t.pos, "this `]` closes no `[` group"),
            _ => self.fail(t.pos, &format!("expected `,` between layers, found {}", t.tok.describe())),
        }
    }

    /// Items separated by commas, up to (not including) `]` or the end.
    fn list(&mut self, depth: usize) -> Result<Vec<SpecItem>> {
        let mut items = Vec::new();
        if matches!(self.peek().tok, Tok::RBracket | Tok::End) {
            return Ok(items);
        }
        loop {
            items.push(self.item(depth)?);
            if self.peek().tok != Tok::Comma {
                break;
            }
            let comma = self.bump();
            if matches!(self.peek().tok, Tok::RBracket | Tok::End) {
                return self.fail(comma.pos, "a `,` must be followed by a layer; remove the trailing comma");
            }
        }
        self.check_unique_names(&items)?;
        Ok(items)
    }

    fn item(&mut self, depth: usize) -> Result<SpecItem> {
        let mut name = None;
        if let (Tok::Word(w), Tok::Equals) = (&self.peek().tok, self.peek2()) {
            let (w, pos) = (w.clone(), self.peek().pos);
            // Dots as in PyTorch's nested names (`encoder.layer.0`), but not empty parts.
            let part_ok = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !w.split('.').all(part_ok) {
                return self.fail(
                    pos,
                    &format!("`{w}` cannot name a layer: use letters, digits and `_`, with `.` between parts"),
                );
            }
            self.bump();
            self.bump();
            name = Some((w, pos));
        }
        let t = self.bump();
        let node = match t.tok {
            Tok::LBracket => {
                if depth + 1 > MAX_DEPTH {
                    return self.fail(t.pos, &format!("groups nest more than {MAX_DEPTH} levels deep"));
                }
                let inner = self.list(depth + 1)?;
                let close = self.bump();
                if close.tok != Tok::RBracket {
                    return self.fail(
                        close.pos,
                        &format!(
                            "expected `,` or `]` to close the group opened at column {}, found {}",
                            self.column(t.pos),
                            close.tok.describe()
                        ),
                    );
                }
                SpecNode::Group(inner)
            }
            Tok::Word(w) => {
                self.layers += 1;
                if self.layers > MAX_LAYERS {
                    return self.fail(t.pos, &format!("more than {MAX_LAYERS} layers"));
                }
                let args = self.args()?;
                SpecNode::Layer(layer_from_args(self.spec, &w, t.pos, &args)?)
            }
            other => {
                return self.fail(
                    t.pos,
                    &format!(
                        "expected a layer such as `linear(784,300)` or a `[...]` group, found {}",
                        other.describe()
                    ),
                )
            }
        };
        Ok(SpecItem { name: name.map(|(n, _)| n), node })
    }

    /// `( arg, ... )` after a layer name, or nothing.
    fn args(&mut self) -> Result<Vec<Arg>> {
        let mut args = Vec::new();
        if self.peek().tok != Tok::LParen {
            return Ok(args);
        }
        let open = self.bump();
        if self.peek().tok == Tok::RParen {
            self.bump();
            return Ok(args);
        }
        loop {
            let t = self.bump();
            let Tok::Word(first) = t.tok else {
                return self.fail(t.pos, &format!("expected an argument, found {}", t.tok.describe()));
            };
            let arg = if self.peek().tok == Tok::Equals {
                self.bump();
                let v = self.bump();
                let Tok::Word(value) = v.tok else {
                    return self.fail(v.pos, &format!("expected a value after `{first}=`, found {}", v.tok.describe()));
                };
                Arg { key: Some(first), value, key_pos: t.pos, pos: v.pos }
            } else {
                Arg { key: None, value: first, key_pos: t.pos, pos: t.pos }
            };
            args.push(arg);
            let sep = self.bump();
            match sep.tok {
                Tok::Comma => continue,
                Tok::RParen => return Ok(args),
                other => {
                    return self.fail(
                        sep.pos,
                        &format!(
                            "expected `,` or `)` to close the arguments opened at column {}, found {}",
                            self.column(open.pos),
                            other.describe()
                        ),
                    )
                }
            }
        }
    }

    /// Effective names (given, or the position) must differ within a group, as state-dict keys do.
    fn check_unique_names(&self, items: &[SpecItem]) -> Result<()> {
        let mut seen = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let name = item.name.clone().unwrap_or_else(|| i.to_string());
            if !seen.insert(name.clone()) {
                return Err(crate::NnError::Spec(format!(
                    "spec: two layers of one group are both called `{name}` (layer {i} of the group); give them different names"
                )));
            }
        }
        Ok(())
    }

    fn column(&self, pos: usize) -> usize {
        super::column(self.spec, pos)
    }
}
