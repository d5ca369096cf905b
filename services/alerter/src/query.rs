//! The subscription query language: parsed once when subscriptions load, evaluated per story
//! by a pure function.
//!
//! ```text
//! query   := or
//! or      := and ( OR and )*
//! and     := unary ( [AND] unary )*        adjacent terms are ANDed
//! unary   := ( NOT | '-' ) unary | primary
//! primary := '(' or ')' | term
//! term    := word | "quoted phrase" | field ':' ( value | "quoted value" )
//!          | number_field ( ':' | '>=' | '>' | '<=' | '<' ) N
//! field   := topic | country | region | entity | org | person | source | feed | lang
//! number_field := severity | cluster_size
//! ```
//!
//! Precedence is NOT > AND > OR; keywords are case-insensitive (so to search for the word
//! "and", quote it). Words and phrases match the title, summary and content case-insensitively
//! at word boundaries: both sides are split into runs of letters and digits, and a phrase
//! matches when its words appear consecutively within one of those fields (`covid-19` is the
//! phrase `covid 19`). Field terms:
//!
//! | term | matches when |
//! | --- | --- |
//! | `topic:X` | a topic id is X (parents are emitted too, so `topic:conflict` matches sub-topics) |
//! | `country:RU` | an ISO 3166-1 alpha-2 country of the story is RU (any case) |
//! | `entity:X` | an entity's id or name is X (any case) |
//! | `org:X`, `person:X` | same, organisations or people only |
//! | `source:X` | the feed id is X |
//! | `feed:X` | the feed id is X, or the feed URL contains X |
//! | `lang:X` | the detected language is X, or the feed's declared language (or its primary subtag) is X |
//! | `region:X` | a region of the story is X (`europe`, `middle_east`, `eu`, any case) |
//! | `severity>=N` | the story's severity (0 routine to 5 critical) is at least N; also `>`, `<=`, `<`, `:` (equal). A story without a severity never matches a comparison |
//! | `cluster_size>=N` | the alerter has seen at least N stories of the story's cluster (this one included); same operators |
//!
//! Errors carry the byte position of the problem and say what was expected
//! (`at 12: expected ')' to close '(' at 0, found end of query`).

use std::fmt;
use std::str::FromStr;

use wirewatch_proto::v1::{EnrichedStory, EntityKind};

/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Deepest nesting of parentheses and NOTs accepted.
pub const MAX_DEPTH: usize = 64;

/// The fields a `field:value` term may name.
pub const FIELDS: [&str; 9] = [
    "topic", "country", "region", "entity", "org", "person", "source", "feed", "lang",
];
/// The numeric fields, compared with `:`, `>=`, `>`, `<=`, `<`.
pub const NUMBER_FIELDS: [&str; 2] = ["severity", "cluster_size"];
/// Highest severity.
pub const MAX_SEVERITY: u32 = 5;

/// A query that failed to parse: where, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {pos}: {message}")]
pub struct ParseError {
    /// Byte offset in the query.
    pub pos: usize,
    /// What is wrong / what was expected.
    pub message: String,
}

impl ParseError {
    fn new(pos: usize, message: impl Into<String>) -> Self {
        Self {
            pos,
            message: message.into(),
        }
    }
}

/// A field of a `field:value` term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `topic:` — topic id.
    Topic,
    /// `country:` — alpha-2 country code.
    Country,
    /// `entity:` — any entity id or name.
    Entity,
    /// `org:` — organisation id or name.
    Org,
    /// `person:` — person id or name.
    Person,
    /// `source:` — feed id.
    Source,
    /// `feed:` — feed id or URL substring.
    Feed,
    /// `lang:` — detected or declared language.
    Lang,
    /// `region:` — a region derived from the countries.
    Region,
}

/// A numeric field of a comparison term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumField {
    /// `severity` — 0 (routine) to 5 (critical).
    Severity,
    /// `cluster_size` — stories of the story's cluster seen by the alerter.
    ClusterSize,
}

impl NumField {
    fn from_name(name: &str) -> Option<NumField> {
        Some(match name.to_ascii_lowercase().as_str() {
            "severity" => NumField::Severity,
            "cluster_size" => NumField::ClusterSize,
            _ => return None,
        })
    }

    /// The name used in queries.
    pub fn name(self) -> &'static str {
        match self {
            NumField::Severity => "severity",
            NumField::ClusterSize => "cluster_size",
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `:` — equal.
    Eq,
    /// `>=`.
    Ge,
    /// `>`.
    Gt,
    /// `<=`.
    Le,
    /// `<`.
    Lt,
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => ":",
            CmpOp::Ge => ">=",
            CmpOp::Gt => ">",
            CmpOp::Le => "<=",
            CmpOp::Lt => "<",
        }
    }

    fn holds(self, actual: u64, n: u64) -> bool {
        match self {
            CmpOp::Eq => actual == n,
            CmpOp::Ge => actual >= n,
            CmpOp::Gt => actual > n,
            CmpOp::Le => actual <= n,
            CmpOp::Lt => actual < n,
        }
    }
}

impl Field {
    fn from_name(name: &str) -> Option<Field> {
        Some(match name.to_ascii_lowercase().as_str() {
            "topic" => Field::Topic,
            "country" => Field::Country,
            "entity" => Field::Entity,
            "org" => Field::Org,
            "person" => Field::Person,
            "source" => Field::Source,
            "feed" => Field::Feed,
            "lang" => Field::Lang,
            "region" => Field::Region,
            _ => return None,
        })
    }

    /// The name used in queries.
    pub fn name(self) -> &'static str {
        match self {
            Field::Topic => "topic",
            Field::Country => "country",
            Field::Entity => "entity",
            Field::Org => "org",
            Field::Person => "person",
            Field::Source => "source",
            Field::Feed => "feed",
            Field::Lang => "lang",
            Field::Region => "region",
        }
    }
}

/// A node of the parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Every child matches.
    And(Vec<Node>),
    /// Some child matches.
    Or(Vec<Node>),
    /// The child does not match.
    Not(Box<Node>),
    /// Consecutive words in title, summary or content (lowercase, at least one).
    Text(Vec<String>),
    /// A `field:value` term; the value is lowercase.
    Field(Field, String),
    /// A numeric comparison such as `severity>=3`.
    Compare(NumField, CmpOp, u64),
}

/// A compiled query. Parse with [`parse`] (or `str::parse`), evaluate with [`Query::matches`].
/// `Display` prints a canonical, fully parenthesised form that parses back to the same query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    root: Node,
}

/// Parse a query. See the module documentation for the language.
pub fn parse(q: &str) -> Result<Query, ParseError> {
    if q.len() > MAX_QUERY_BYTES {
        return Err(ParseError::new(
            MAX_QUERY_BYTES,
            format!("query is longer than {MAX_QUERY_BYTES} bytes"),
        ));
    }
    let tokens = tokenize(q)?;
    if tokens.is_empty() {
        return Err(ParseError::new(0, "query is empty: expected a term"));
    }
    let mut p = Parser {
        tokens,
        i: 0,
        end: q.len(),
        depth: 0,
    };
    let root = p.or()?;
    if let Some(t) = p.peek() {
        // The AND loop consumes everything that can start a term, and the OR loop every OR:
        // only an unmatched ')' can be left.
        return Err(ParseError::new(
            t.pos,
            format!("unexpected {} with no matching '('", t.kind.describe()),
        ));
    }
    Ok(Query { root })
}

impl FromStr for Query {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl Query {
    /// Whether `story` matches. Pure; splits the story text into words on every call, so when
    /// many queries are evaluated against one story prefer [`StoryIndex`] and
    /// [`Query::matches_index`].
    pub fn matches(&self, s: &EnrichedStory) -> bool {
        self.matches_index(&StoryIndex::new(s))
    }

    /// Terms of which every story matching this query has at least one (`None` when there is
    /// no such set, e.g. `NOT x` or `severity>=3` alone): the percolator's index keys.
    pub fn required_keys(&self) -> Option<Vec<IndexKey>> {
        required(&self.root)
    }

    /// Whether the story behind `index` matches.
    pub fn matches_index(&self, index: &StoryIndex<'_>) -> bool {
        eval(&self.root, index)
    }

    /// The syntax tree.
    pub fn root(&self) -> &Node {
        &self.root
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_node(f, &self.root, true)
    }
}

fn write_node(f: &mut fmt::Formatter<'_>, n: &Node, top: bool) -> fmt::Result {
    match n {
        Node::And(c) | Node::Or(c) => {
            let op = if matches!(n, Node::And(_)) {
                " AND "
            } else {
                " OR "
            };
            if !top {
                f.write_str("(")?;
            }
            for (i, child) in c.iter().enumerate() {
                if i > 0 {
                    f.write_str(op)?;
                }
                write_node(f, child, false)?;
            }
            if !top {
                f.write_str(")")?;
            }
            Ok(())
        }
        Node::Not(c) => {
            if !top {
                f.write_str("(")?;
            }
            f.write_str("NOT ")?;
            write_node(f, c, false)?;
            if !top {
                f.write_str(")")?;
            }
            Ok(())
        }
        Node::Text(words) => {
            let joined = words.join(" ");
            if words.len() == 1 && !is_keyword(&joined) && !joined.starts_with('-') {
                f.write_str(&joined)
            } else {
                write!(f, "\"{joined}\"")
            }
        }
        Node::Compare(field, op, n) => write!(f, "{}{}{n}", field.name(), op.as_str()),
        Node::Field(field, v) => {
            let plain = !v.is_empty() && !v.starts_with('"') && v.chars().all(is_bare_char);
            if plain {
                write!(f, "{}:{v}", field.name())
            } else {
                write!(f, "{}:\"{v}\"", field.name())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    LParen,
    RParen,
    And,
    Or,
    Not,
    /// `-` directly before a term: NOT.
    Minus,
    Text(Vec<String>),
    Field(Field, String),
    Compare(NumField, CmpOp, u64),
}

impl Kind {
    fn describe(&self) -> String {
        match self {
            Kind::LParen => "'('".into(),
            Kind::RParen => "')'".into(),
            Kind::And => "AND".into(),
            Kind::Or => "OR".into(),
            Kind::Not => "NOT".into(),
            Kind::Minus => "'-'".into(),
            Kind::Text(w) => format!("term \"{}\"", w.join(" ")),
            Kind::Field(f, v) => format!("term {}:{v}", f.name()),
            Kind::Compare(f, op, n) => format!("term {}{}{n}", f.name(), op.as_str()),
        }
    }

    fn starts_term(&self) -> bool {
        matches!(
            self,
            Kind::LParen
                | Kind::Not
                | Kind::Minus
                | Kind::Text(_)
                | Kind::Field(..)
                | Kind::Compare(..)
        )
    }
}

#[derive(Debug, Clone)]
struct Token {
    pos: usize,
    kind: Kind,
}

fn is_bare_char(c: char) -> bool {
    !c.is_whitespace() && c != '(' && c != ')' && c != '"'
}

fn is_keyword(w: &str) -> bool {
    w.eq_ignore_ascii_case("and") || w.eq_ignore_ascii_case("or") || w.eq_ignore_ascii_case("not")
}

/// Split text into lowercase runs of letters and digits: the unit of word-boundary matching.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn tokenize(q: &str) -> Result<Vec<Token>, ParseError> {
    let mut out = Vec::new();
    let mut chars = q.char_indices().peekable();
    while let Some(&(pos, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        match c {
            '(' => {
                chars.next();
                out.push(Token {
                    pos,
                    kind: Kind::LParen,
                });
            }
            ')' => {
                chars.next();
                out.push(Token {
                    pos,
                    kind: Kind::RParen,
                });
            }
            '"' => {
                chars.next();
                let (text, _) = quoted(q, pos, &mut chars)?;
                let w = words(text);
                if w.is_empty() {
                    return Err(ParseError::new(
                        pos,
                        "expected letters or digits inside the quotes",
                    ));
                }
                out.push(Token {
                    pos,
                    kind: Kind::Text(w),
                });
            }
            '-' if matches!(q[pos + 1..].chars().next(), Some(n) if n != ')' && !n.is_whitespace()) =>
            {
                chars.next();
                out.push(Token {
                    pos,
                    kind: Kind::Minus,
                });
            }
            _ => {
                let mut end = pos;
                while let Some(&(i, c)) = chars.peek() {
                    if !is_bare_char(c) {
                        break;
                    }
                    end = i + c.len_utf8();
                    chars.next();
                }
                let bare = &q[pos..end];
                let kind = if let Some(k) = comparison(pos, bare)? {
                    k
                } else if let Some((name, value)) = bare.split_once(':') {
                    field_term(q, pos, name, value, &mut chars)?
                } else if bare.eq_ignore_ascii_case("and") {
                    Kind::And
                } else if bare.eq_ignore_ascii_case("or") {
                    Kind::Or
                } else if bare.eq_ignore_ascii_case("not") {
                    Kind::Not
                } else {
                    let w = words(bare);
                    if w.is_empty() {
                        return Err(ParseError::new(
                            pos,
                            format!("expected a word with letters or digits, found '{bare}'"),
                        ));
                    }
                    Kind::Text(w)
                };
                out.push(Token { pos, kind });
            }
        }
    }
    Ok(out)
}

/// A numeric comparison term (`severity>=3`, `cluster_size:2`), if `bare` starts with a
/// numeric field name followed by an operator. `None` leaves the token to the other rules.
fn comparison(pos: usize, bare: &str) -> Result<Option<Kind>, ParseError> {
    let Some(op_at) = bare.find([':', '>', '<']) else {
        return Ok(None);
    };
    let name = &bare[..op_at];
    let rest = &bare[op_at..];
    let Some(field) = NumField::from_name(name) else {
        if rest.starts_with(['>', '<']) && Field::from_name(name).is_some() {
            return Err(ParseError::new(
                pos + op_at,
                format!(
                    "field '{name}' takes ':' and a value; comparisons work on {} only",
                    NUMBER_FIELDS.join(", ")
                ),
            ));
        }
        return Ok(None);
    };
    let (op, len) = if rest.starts_with(">=") {
        (CmpOp::Ge, 2)
    } else if rest.starts_with("<=") {
        (CmpOp::Le, 2)
    } else if rest.starts_with('>') {
        (CmpOp::Gt, 1)
    } else if rest.starts_with('<') {
        (CmpOp::Lt, 1)
    } else {
        (CmpOp::Eq, 1)
    };
    let value_pos = pos + op_at + len;
    let value = &rest[len..];
    if value.is_empty() {
        return Err(ParseError::new(
            value_pos,
            format!("expected a whole number after '{name}{}'", op.as_str()),
        ));
    }
    let n: u64 = value.parse().map_err(|_| {
        ParseError::new(
            value_pos,
            format!(
                "expected a whole number after '{name}{}', found '{value}'",
                op.as_str()
            ),
        )
    })?;
    if field == NumField::Severity && n > u64::from(MAX_SEVERITY) {
        return Err(ParseError::new(
            value_pos,
            format!("expected a severity from 0 to {MAX_SEVERITY}, found {n}"),
        ));
    }
    Ok(Some(Kind::Compare(field, op, n)))
}

/// Read a quoted string whose opening `"` at `open` was consumed; returns its content and the
/// byte after the closing quote.
fn quoted<'q>(
    q: &'q str,
    open: usize,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'q>>,
) -> Result<(&'q str, usize), ParseError> {
    for (i, c) in chars.by_ref() {
        if c == '"' {
            return Ok((&q[open + 1..i], i + 1));
        }
    }
    Err(ParseError::new(
        q.len(),
        format!("expected '\"' to close the quote opened at {open}, found end of query"),
    ))
}

fn field_term<'q>(
    q: &'q str,
    pos: usize,
    name: &str,
    value: &str,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'q>>,
) -> Result<Kind, ParseError> {
    if name.is_empty() {
        return Err(ParseError::new(pos, "expected a field name before ':'"));
    }
    let field = Field::from_name(name).ok_or_else(|| {
        ParseError::new(
            pos,
            format!(
                "unknown field '{name}' (expected one of {})",
                FIELDS.join(", ")
            ),
        )
    })?;
    let value_pos = pos + name.len() + 1;
    let value = if !value.is_empty() {
        value.to_lowercase()
    } else if let Some(&(open, '"')) = chars.peek() {
        chars.next();
        let (text, _) = quoted(q, open, chars)?;
        let v = text.trim();
        if v.is_empty() {
            return Err(ParseError::new(
                open,
                format!("expected a value inside the quotes after '{name}:'"),
            ));
        }
        v.to_lowercase()
    } else {
        return Err(ParseError::new(
            value_pos,
            format!("expected a value after '{name}:'"),
        ));
    };
    Ok(Kind::Field(field, value))
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser {
    tokens: Vec<Token>,
    i: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.i)
    }

    fn found(&self) -> (usize, String) {
        match self.peek() {
            Some(t) => (t.pos, t.kind.describe()),
            None => (self.end, "end of query".into()),
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let (pos, _) = self.found();
            return Err(ParseError::new(
                pos,
                format!("query nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Node, ParseError> {
        let mut children = vec![self.and()?];
        while matches!(self.peek(), Some(Token { kind: Kind::Or, .. })) {
            self.i += 1;
            children.push(self.and_after("OR")?);
        }
        Ok(flatten(children, false))
    }

    /// An AND group that must follow the operator `op`.
    fn and_after(&mut self, op: &str) -> Result<Node, ParseError> {
        if !self.peek().is_some_and(|t| t.kind.starts_term()) {
            let (pos, found) = self.found();
            return Err(ParseError::new(
                pos,
                format!("expected a term after {op}, found {found}"),
            ));
        }
        self.and()
    }

    fn and(&mut self) -> Result<Node, ParseError> {
        let mut children = vec![self.unary()?];
        loop {
            match self.peek() {
                Some(Token {
                    kind: Kind::And, ..
                }) => {
                    self.i += 1;
                    if !self.peek().is_some_and(|t| t.kind.starts_term()) {
                        let (pos, found) = self.found();
                        return Err(ParseError::new(
                            pos,
                            format!("expected a term after AND, found {found}"),
                        ));
                    }
                    children.push(self.unary()?);
                }
                Some(t) if t.kind.starts_term() => children.push(self.unary()?),
                _ => break,
            }
        }
        Ok(flatten(children, true))
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        match self.peek().map(|t| &t.kind) {
            Some(Kind::Not) | Some(Kind::Minus) => {
                let op = if matches!(self.peek().map(|t| &t.kind), Some(Kind::Not)) {
                    "NOT"
                } else {
                    "'-'"
                };
                self.i += 1;
                self.enter()?;
                if !self.peek().is_some_and(|t| t.kind.starts_term()) {
                    let (pos, found) = self.found();
                    return Err(ParseError::new(
                        pos,
                        format!("expected a term after {op}, found {found}"),
                    ));
                }
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(match inner {
                    // NOT NOT x is x.
                    Node::Not(x) => *x,
                    other => Node::Not(Box::new(other)),
                })
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Node, ParseError> {
        let Some(tok) = self.peek().cloned() else {
            return Err(ParseError::new(
                self.end,
                "expected a term, '(' or NOT, found end of query",
            ));
        };
        self.i += 1;
        match tok.kind {
            Kind::Text(w) => Ok(Node::Text(w)),
            Kind::Field(f, v) => Ok(Node::Field(f, v)),
            Kind::Compare(f, op, n) => Ok(Node::Compare(f, op, n)),
            Kind::LParen => {
                self.enter()?;
                if !self.peek().is_some_and(|t| t.kind.starts_term()) {
                    let (pos, found) = self.found();
                    return Err(ParseError::new(
                        pos,
                        format!("expected a term after '(', found {found}"),
                    ));
                }
                let inner = self.or()?;
                match self.peek() {
                    Some(Token {
                        kind: Kind::RParen, ..
                    }) => {
                        self.i += 1;
                        self.depth -= 1;
                        Ok(inner)
                    }
                    _ => {
                        let (pos, found) = self.found();
                        Err(ParseError::new(
                            pos,
                            format!("expected ')' to close '(' at {}, found {found}", tok.pos),
                        ))
                    }
                }
            }
            other => Err(ParseError::new(
                tok.pos,
                format!("expected a term, '(' or NOT, found {}", other.describe()),
            )),
        }
    }
}

/// Build an AND/OR node, merging nested nodes of the same operator (`(a AND b) AND c` is
/// `a AND b AND c`) so that evaluation and display stay flat.
fn flatten(children: Vec<Node>, and: bool) -> Node {
    if children.len() == 1 {
        return children.into_iter().next().unwrap_or(Node::And(vec![]));
    }
    let mut out = Vec::with_capacity(children.len());
    for c in children {
        match c {
            Node::And(inner) if and => out.extend(inner),
            Node::Or(inner) if !and => out.extend(inner),
            other => out.push(other),
        }
    }
    if and {
        Node::And(out)
    } else {
        Node::Or(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// A story prepared for matching: its text split into words once, so that many queries can be
/// evaluated against it cheaply.
#[derive(Debug)]
pub struct StoryIndex<'a> {
    story: &'a EnrichedStory,
    /// Words of title, summary and content, each field separately (a phrase does not match
    /// across the end of the title and the start of the summary).
    text: Vec<Vec<String>>,
    /// Stories of the story's cluster seen so far, this one included (at least 1).
    cluster_size: u64,
}

impl<'a> StoryIndex<'a> {
    /// Prepare `story`, alone in its cluster as far as `cluster_size` is concerned.
    pub fn new(story: &'a EnrichedStory) -> Self {
        Self::with_cluster_size(story, 1)
    }

    /// Prepare `story`, whose cluster has `cluster_size` stories seen (this one included).
    pub fn with_cluster_size(story: &'a EnrichedStory, cluster_size: u64) -> Self {
        let s = &story.story;
        let text = std::iter::once(s.title.as_str())
            .chain(s.summary.as_deref())
            .chain(s.content.as_deref())
            .map(words)
            .collect();
        Self {
            story,
            text,
            cluster_size: cluster_size.max(1),
        }
    }

    /// The story.
    pub fn story(&self) -> &'a EnrichedStory {
        self.story
    }

    /// The words of title, summary and content.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.text.iter().flatten().map(String::as_str)
    }

    fn contains_phrase(&self, phrase: &[String]) -> bool {
        if phrase.is_empty() {
            return false;
        }
        self.text
            .iter()
            .any(|field| field.windows(phrase.len()).any(|w| w == phrase))
    }
}

fn eq_ci(a: &str, lower: &str) -> bool {
    a.eq_ignore_ascii_case(lower) || a.to_lowercase() == lower
}

fn eval(n: &Node, ix: &StoryIndex<'_>) -> bool {
    let s = ix.story;
    match n {
        Node::And(c) => c.iter().all(|c| eval(c, ix)),
        Node::Or(c) => c.iter().any(|c| eval(c, ix)),
        Node::Not(c) => !eval(c, ix),
        Node::Text(phrase) => ix.contains_phrase(phrase),
        Node::Compare(field, op, n) => match field {
            NumField::Severity => s.severity.is_some_and(|sev| op.holds(u64::from(sev), *n)),
            NumField::ClusterSize => op.holds(ix.cluster_size, *n),
        },
        Node::Field(field, v) => match field {
            Field::Region => s.regions.iter().any(|r| eq_ci(r, v)),
            Field::Topic => s.topics.iter().any(|t| eq_ci(&t.id, v)),
            Field::Country => {
                s.countries.iter().any(|c| eq_ci(c, v))
                    || s.entities
                        .iter()
                        .any(|e| e.kind == EntityKind::Country && eq_ci(&e.id, v))
            }
            Field::Entity => entity(s, None, v),
            Field::Org => entity(s, Some(EntityKind::Organisation), v),
            Field::Person => entity(s, Some(EntityKind::Person), v),
            Field::Source => eq_ci(&s.story.feed.id, v),
            Field::Feed => {
                eq_ci(&s.story.feed.id, v) || s.story.feed.url.to_lowercase().contains(v.as_str())
            }
            Field::Lang => {
                s.detected_language.as_deref().is_some_and(|l| eq_ci(l, v))
                    || s.story.language.as_deref().is_some_and(|l| {
                        eq_ci(l, v) || l.split(['-', '_']).next().is_some_and(|p| eq_ci(p, v))
                    })
            }
        },
    }
}

/// A term a story has and a query may require: the key of the percolator's index. Values are
/// lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IndexKey {
    /// A word of title, summary or content.
    Word(String),
    /// A topic id.
    Topic(String),
    /// A country code (from `countries` or a country entity).
    Country(String),
    /// A region.
    Region(String),
    /// Any entity's id or name.
    Entity(String),
    /// An organisation's id or name.
    Org(String),
    /// A person's id or name.
    Person(String),
    /// The feed id.
    Source(String),
    /// A detected or declared language, or the declared language's primary subtag.
    Lang(String),
}

fn required(n: &Node) -> Option<Vec<IndexKey>> {
    match n {
        // The longest word of a phrase: usually the rarest.
        Node::Text(words) => words
            .iter()
            .max_by_key(|w| w.len())
            .map(|w| vec![IndexKey::Word(w.clone())]),
        Node::Field(f, v) => {
            let v = v.clone();
            Some(vec![match f {
                Field::Topic => IndexKey::Topic(v),
                Field::Country => IndexKey::Country(v),
                Field::Region => IndexKey::Region(v),
                Field::Entity => IndexKey::Entity(v),
                Field::Org => IndexKey::Org(v),
                Field::Person => IndexKey::Person(v),
                Field::Source => IndexKey::Source(v),
                Field::Lang => IndexKey::Lang(v),
                // A substring of the URL: no key.
                Field::Feed => return None,
            }])
        }
        Node::Compare(..) | Node::Not(_) => None,
        // Any child's set will do; the smallest means the fewest index lookups hit it.
        Node::And(c) => c.iter().filter_map(required).min_by_key(Vec::len),
        Node::Or(c) => {
            let mut out = Vec::new();
            for child in c {
                for k in required(child)? {
                    if !out.contains(&k) {
                        out.push(k);
                    }
                }
            }
            Some(out)
        }
    }
}

impl StoryIndex<'_> {
    /// Every [`IndexKey`] of the story (may repeat).
    pub fn keys(&self) -> Vec<IndexKey> {
        let s = self.story;
        let lc = |x: &str| x.to_lowercase();
        let mut out: Vec<IndexKey> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for w in self.words() {
            if seen.insert(w) {
                out.push(IndexKey::Word(w.to_string()));
            }
        }
        out.extend(s.topics.iter().map(|t| IndexKey::Topic(lc(&t.id))));
        out.extend(s.countries.iter().map(|c| IndexKey::Country(lc(c))));
        out.extend(s.regions.iter().map(|r| IndexKey::Region(lc(r))));
        for e in &s.entities {
            for v in [lc(&e.id), lc(&e.name)] {
                match e.kind {
                    EntityKind::Country => out.push(IndexKey::Country(v.clone())),
                    EntityKind::Organisation => out.push(IndexKey::Org(v.clone())),
                    EntityKind::Person => out.push(IndexKey::Person(v.clone())),
                }
                out.push(IndexKey::Entity(v));
            }
        }
        out.push(IndexKey::Source(lc(&s.story.feed.id)));
        if let Some(l) = &s.detected_language {
            out.push(IndexKey::Lang(lc(l)));
        }
        if let Some(l) = &s.story.language {
            out.push(IndexKey::Lang(lc(l)));
            if let Some(p) = l.split(['-', '_']).next() {
                out.push(IndexKey::Lang(lc(p)));
            }
        }
        out
    }
}

fn entity(s: &EnrichedStory, kind: Option<EntityKind>, v: &str) -> bool {
    s.entities
        .iter()
        .filter(|e| kind.is_none_or(|k| e.kind == k))
        .any(|e| eq_ci(&e.id, v) || eq_ci(&e.name, v))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::Utc;
    use proptest::prelude::*;
    use wirewatch_proto::v1::{Entity, FeedRef, RawStory, TopicMatch};

    fn p(q: &str) -> String {
        parse(q).unwrap().to_string()
    }

    fn err(q: &str) -> ParseError {
        parse(q).unwrap_err()
    }

    #[test]
    fn precedence_not_and_or() {
        assert_eq!(p("a OR b AND c"), "a OR (b AND c)");
        assert_eq!(p("a AND b OR c"), "(a AND b) OR c");
        assert_eq!(p("NOT a AND b"), "(NOT a) AND b");
        assert_eq!(p("NOT a OR b"), "(NOT a) OR b");
        assert_eq!(p("NOT (a OR b)"), "NOT (a OR b)");
        assert_eq!(p("(a OR b) c"), "(a OR b) AND c");
        assert_eq!(p("a b OR c d"), "(a AND b) OR (c AND d)");
        assert_eq!(p("a -b"), "a AND (NOT b)");
        assert_eq!(p("-(a b)"), "NOT (a AND b)");
        assert_eq!(p("NOT NOT a"), "a");
        assert_eq!(p("((a))"), "a");
        assert_eq!(p("a AND (b AND c)"), "a AND b AND c");
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(p("a and b or not c"), "(a AND b) OR (NOT c)");
        assert_eq!(p("a And b"), "a AND b");
        // Quoted, a keyword is a word.
        assert_eq!(p("\"and\""), "\"and\"");
    }

    #[test]
    fn phrases_and_fields() {
        assert_eq!(p("\"Peace  Talks\""), "\"peace talks\"");
        assert_eq!(p("covid-19"), "\"covid 19\"");
        assert_eq!(
            p("topic:conflict AND country:RU"),
            "topic:conflict AND country:ru"
        );
        assert_eq!(p("entity:\"Vladimir Putin\""), "entity:\"vladimir putin\"");
        assert_eq!(
            p("feed:https://example.org/rss"),
            "feed:https://example.org/rss"
        );
        assert_eq!(p("Topic:x"), "topic:x");
    }

    #[test]
    fn errors_point_at_the_position() {
        let e = err("(a OR b");
        assert_eq!(e.pos, 7);
        assert!(e.to_string().starts_with("at 7: expected ')'"), "{e}");
        let e = err("topic:conflict AND (country:ru");
        assert_eq!(e.pos, 30);
        assert!(e.message.contains("expected ')' to close '(' at 19"), "{e}");
        let e = err("a AND");
        assert_eq!(
            (e.pos, e.message.as_str()),
            (5, "expected a term after AND, found end of query")
        );
        let e = err("a OR OR b");
        assert_eq!(e.pos, 5);
        assert!(e.message.contains("after OR"), "{e}");
        let e = err("a )");
        assert_eq!(e.pos, 2);
        assert!(e.message.contains("no matching '('"), "{e}");
        let e = err("\"open phrase");
        assert_eq!(e.pos, 12);
        assert!(e.message.contains("expected '\"'"), "{e}");
        let e = err("topic:");
        assert_eq!(e.pos, 6);
        assert!(e.message.contains("expected a value after 'topic:'"), "{e}");
        let e = err("   ");
        assert_eq!(e.pos, 0);
        let e = err("()");
        assert_eq!(e.pos, 1);
        let e = err("a - b");
        assert_eq!(e.pos, 2);
        let e = err("NOT");
        assert_eq!(e.pos, 3);
    }

    #[test]
    fn unknown_field_is_named() {
        let e = err("a AND colour:red");
        assert_eq!(e.pos, 6);
        assert!(e.message.contains("unknown field 'colour'"), "{e}");
        assert!(e.message.contains("topic"), "{e}");
    }

    #[test]
    fn limits() {
        let deep = format!("{}a{}", "(".repeat(200), ")".repeat(200));
        assert!(err(&deep).message.contains("nests deeper"));
        let nots = "NOT ".repeat(200) + "a";
        assert!(err(&nots).message.contains("nests deeper"));
        let long = "a ".repeat(MAX_QUERY_BYTES);
        assert!(err(&long).message.contains("longer than"));
    }

    fn story() -> EnrichedStory {
        EnrichedStory {
            story: RawStory {
                id: "s1".into(),
                feed: FeedRef {
                    id: "bbc-world".into(),
                    url: "https://feeds.bbci.co.uk/news/world/rss.xml".into(),
                    title: None,
                },
                guid: None,
                link: Some("https://example.org/a".into()),
                title: "Russia and Ukraine resume peace talks in Istanbul".into(),
                summary: Some("Delegations met at the Dolmabahçe palace.".into()),
                content: Some("The Kremlin said the COVID-19 rules were lifted.".into()),
                authors: vec![],
                categories: vec![],
                language: Some("en-GB".into()),
                published: None,
                updated: None,
                fetched_at: Utc::now(),
                fetcher_version: "t".into(),
                published_is_fetch_time: false,
            },
            cluster_id: "c1".into(),
            topics: vec![
                TopicMatch {
                    id: "armed-conflict".into(),
                    label: "Armed conflict".into(),
                    score: 0.9,
                    iptc: "medtop:1".into(),
                    iptc_top: "medtop:16000000".into(),
                    evidence: vec![],
                },
                TopicMatch {
                    id: "conflict".into(),
                    label: "Conflict".into(),
                    score: 0.9,
                    iptc: "medtop:16000000".into(),
                    iptc_top: "medtop:16000000".into(),
                    evidence: vec![],
                },
            ],
            countries: vec!["RU".into(), "UA".into(), "TR".into()],
            entities: vec![
                Entity {
                    kind: EntityKind::Country,
                    id: "RU".into(),
                    name: "Russia".into(),
                    mentions: 2,
                    matched: vec![],
                    salience: None,
                },
                Entity {
                    kind: EntityKind::Organisation,
                    id: "kremlin".into(),
                    name: "Kremlin".into(),
                    mentions: 1,
                    matched: vec![],
                    salience: None,
                },
                Entity {
                    kind: EntityKind::Person,
                    id: "putin".into(),
                    name: "Vladimir Putin".into(),
                    mentions: 1,
                    matched: vec![],
                    salience: None,
                },
            ],
            detected_language: Some("en".into()),
            language_confidence: None,
            regions: vec![],
            severity: None,
            classified_at: Utc::now(),
            classifier_version: "t".into(),
        }
    }

    fn m(q: &str) -> bool {
        parse(q).unwrap().matches(&story())
    }

    #[test]
    fn matches_words_and_phrases_at_word_boundaries() {
        assert!(m("istanbul"));
        assert!(m("ISTANBUL"));
        assert!(m("\"peace talks\""));
        assert!(m("\"PEACE TALKS\" istanbul"));
        assert!(!m("\"talks peace\""));
        assert!(!m("peac"), "no substring match");
        assert!(!m("talk"), "word boundary");
        assert!(m("dolmabahçe"), "unicode words");
        assert!(m("covid-19"));
        assert!(m("\"covid 19\""));
        assert!(m("kremlin"), "content is searched");
        // A phrase does not span two fields (title ends "istanbul", summary starts "delegations").
        assert!(!m("\"istanbul delegations\""));
    }

    #[test]
    fn matches_fields() {
        assert!(m("topic:conflict AND country:RU"));
        assert!(m("topic:armed-conflict"));
        assert!(!m("topic:armed"));
        assert!(m("country:ru"));
        assert!(!m("country:us"));
        assert!(m("entity:kremlin"));
        assert!(m("entity:\"vladimir putin\""));
        assert!(m("entity:russia"));
        assert!(m("org:kremlin"));
        assert!(!m("org:putin"));
        assert!(m("person:putin"));
        assert!(!m("person:kremlin"));
        assert!(m("source:bbc-world"));
        assert!(!m("source:bbc"));
        assert!(m("feed:bbc-world"));
        assert!(m("feed:bbci.co.uk"));
        assert!(!m("feed:reuters"));
        assert!(m("lang:en"));
        assert!(m("lang:en-gb"));
        assert!(!m("lang:fr"));
        let mut s = story();
        s.detected_language = None;
        s.story.language = Some("fr".into());
        assert!(parse("lang:fr").unwrap().matches(&s));
    }

    #[test]
    fn matches_boolean_combinations() {
        assert!(m("topic:conflict AND NOT country:us"));
        assert!(!m("topic:conflict AND NOT country:ru"));
        assert!(m("country:us OR istanbul"));
        assert!(m("(country:us OR country:ru) talks"));
        assert!(!m("(country:us OR country:fr) talks"));
        assert!(m("-country:us talks"));
        assert!(!m("talks -istanbul"));
        assert!(m("nonexistent OR talks AND peace"));
        assert!(!m("(nonexistent OR talks) AND war"));
    }

    #[test]
    fn parses_comparisons_and_regions() {
        assert_eq!(p("severity>=3"), "severity>=3");
        assert_eq!(p("Severity>3 AND severity<5"), "severity>3 AND severity<5");
        assert_eq!(p("severity:0 OR severity<=1"), "severity:0 OR severity<=1");
        assert_eq!(p("cluster_size>=2"), "cluster_size>=2");
        assert_eq!(p("region:Middle_East"), "region:middle_east");
        // Not a numeric field: still words.
        assert_eq!(p("a<b"), "\"a b\"");
    }

    #[test]
    fn comparison_errors_point_at_the_value() {
        let e = err("topic:x AND severity>=");
        assert_eq!(e.pos, 22);
        assert!(
            e.message
                .contains("expected a whole number after 'severity>='"),
            "{e}"
        );
        let e = err("severity>=high");
        assert_eq!(e.pos, 10);
        assert!(e.message.contains("found 'high'"), "{e}");
        let e = err("severity:9");
        assert_eq!(e.pos, 9);
        assert!(e.message.contains("severity from 0 to 5"), "{e}");
        let e = err("a topic>=3");
        assert_eq!(e.pos, 7);
        assert!(
            e.message
                .contains("comparisons work on severity, cluster_size"),
            "{e}"
        );
        let e = err("cluster_size>99999999999999999999999");
        assert_eq!(e.pos, 13);
    }

    #[test]
    fn matches_severity_regions_and_cluster_size() {
        let mut s = story();
        let q = |q: &str, s: &EnrichedStory, n: u64| {
            parse(q)
                .unwrap()
                .matches_index(&StoryIndex::with_cluster_size(s, n))
        };
        assert!(!q("severity>=0", &s, 1), "no severity: no match");
        assert!(q("NOT severity>=3", &s, 1));
        s.severity = Some(3);
        assert!(q("severity>=3", &s, 1));
        assert!(!q("severity>3", &s, 1));
        assert!(q("severity:3", &s, 1));
        assert!(q("severity<4", &s, 1));
        assert!(!q("severity<=2", &s, 1));
        assert!(!q("region:europe", &s, 1));
        s.regions = vec!["europe".into(), "EU".into()];
        assert!(q("region:europe AND region:eu", &s, 1));
        assert!(!q("region:asia", &s, 1));
        assert!(!q("cluster_size>=2", &s, 1));
        assert!(q("cluster_size>=2", &s, 2));
        assert!(q("cluster_size:1", &s, 0), "a story counts itself");
        assert!(!m("cluster_size>1"), "matches() sees a cluster of one");
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = parse(&s);
        }

        #[test]
        fn parse_queryish_never_panics_and_roundtrips(
            s in "([a-z]{1,3}|[0-9]{1,3}|AND|OR|NOT|and|-|\\(|\\)|\"|:|>|<|>=|topic:|country:|region:|bogus:|severity|severity>=|cluster_size>|cluster_size:| ){0,24}"
        ) {
            if let Ok(q) = parse(&s) {
                let printed = q.to_string();
                let again = parse(&printed);
                prop_assert!(again.is_ok(), "{s:?} printed as {printed:?} does not parse: {again:?}");
                prop_assert_eq!(again.ok(), Some(q));
            } else if let Err(e) = parse(&s) {
                prop_assert!(e.pos <= s.len());
            }
        }
    }
}
