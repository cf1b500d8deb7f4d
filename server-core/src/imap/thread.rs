//! THREAD=REFERENCES (RFC 5256 §3, "REFERENCES"): threads from Message-ID, References and In-Reply-To, then
//! root threads with the same base subject gathered. A pure function over what each message says, so that the
//! algorithm is tested with tables; the THREAD command in `sort` gathers the input.
//!
//! The steps, as the RFC numbers them:
//! 1. Link each message's references into parent/child chains, never making a loop; the message's parent is its
//!    last reference (a parent set earlier by another message's References is replaced).
//! 2. The root set: the containers without a parent.
//! 3. Prune containers without a message: drop those without children, promote the children of the others
//!    (but keep one at the root with several children).
//! 4. Sort the root set by sent date (a dummy by its first child's).
//! 5. Gather roots with the same base subject under one thread.
//! 6. Sort each set of siblings by sent date; ties by sequence number throughout.

use std::collections::HashMap;

/// What the algorithm needs of one message.
#[derive(Clone, Debug, Default)]
pub struct Message {
    /// What the response says: the sequence number or the UID.
    pub number: u32,
    /// Sequence number, for ties.
    pub seq: u32,
    /// Sent date (the internal date when there is none), seconds since the epoch.
    pub date: i64,
    /// Base subject (RFC 5256 §2.1), case-mapped.
    pub subject: String,
    /// Whether the subject was a reply or forward (the base subject extraction removed `Re:`, `Fwd:`...).
    pub reply: bool,
    /// Message-ID, without angle brackets; None when missing or invalid.
    pub id: Option<String>,
    /// References (else the first message-id of In-Reply-To), oldest first.
    pub references: Vec<String>,
}

/// One node: a message, or a dummy standing for a referenced message that is not here.
#[derive(Default)]
struct Container {
    /// Index into the input.
    message: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Forest<'m> {
    nodes: Vec<Container>,
    messages: &'m [Message],
}

impl Forest<'_> {
    fn new_node(&mut self, message: Option<usize>) -> usize {
        self.nodes.push(Container { message, ..Container::default() });
        self.nodes.len() - 1
    }

    /// Whether `a` is `b` or one of its ancestors.
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        let mut at = Some(b);
        while let Some(n) = at {
            if n == a {
                return true;
            }
            at = self.nodes[n].parent;
        }
        false
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.nodes[child].parent.take() {
            self.nodes[p].children.retain(|&c| c != child);
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.unlink(child);
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }

    /// The message that stands for a node when sorting and gathering: its own, or its first child's.
    fn representative(&self, node: usize) -> Option<&Message> {
        let mut at = node;
        loop {
            if let Some(m) = self.nodes[at].message {
                return Some(&self.messages[m]);
            }
            at = *self.nodes[at].children.first()?;
        }
    }

    fn sort_key(&self, node: usize) -> (i64, u32) {
        self.representative(node).map_or((i64::MAX, u32::MAX), |m| (m.date, m.seq))
    }

    /// Step 3 on one list of siblings: dummies without children go, dummies with children give way to them (at
    /// the root, only when they have one child). The lists below are left to [`Forest::prune`].
    fn prune_level(&mut self, list: Vec<usize>, root: bool) -> Vec<usize> {
        let mut out = Vec::new();
        let mut work: Vec<usize> = list.into_iter().rev().collect();
        while let Some(n) = work.pop() {
            if self.nodes[n].message.is_none() && !(root && self.nodes[n].children.len() > 1) {
                let children = std::mem::take(&mut self.nodes[n].children);
                for &c in &children {
                    self.nodes[c].parent = self.nodes[n].parent;
                }
                // Promoted children are pruned in their turn, at this level.
                work.extend(children.into_iter().rev());
                continue;
            }
            out.push(n);
        }
        out
    }

    /// Step 3 on the whole forest, without recursion (a hostile mailbox may nest references thousands deep).
    fn prune(&mut self, roots: Vec<usize>) -> Vec<usize> {
        let roots = self.prune_level(roots, true);
        let mut stack = roots.clone();
        while let Some(n) = stack.pop() {
            let children = std::mem::take(&mut self.nodes[n].children);
            let kept = self.prune_level(children, false);
            stack.extend(&kept);
            self.nodes[n].children = kept;
        }
        roots
    }

    /// Step 6: siblings by sent date, below `top`; children are sorted before their parent, whose date may be
    /// its first child's.
    fn sort_children(&mut self, top: usize) {
        let mut order = vec![top];
        let mut at = 0;
        while at < order.len() {
            order.extend(self.nodes[order[at]].children.iter().copied());
            at += 1;
        }
        for &n in order.iter().rev() {
            let mut children = std::mem::take(&mut self.nodes[n].children);
            children.sort_by_key(|&c| self.sort_key(c));
            self.nodes[n].children = children;
        }
    }

    /// One `thread-list` (RFC 5256 §5), parentheses included, without recursion: a chain of only children is
    /// `(1 2 3)`, a branch `(1 (2)(3))`, a dummy `((1)(2))`.
    fn write(&self, top: usize, out: &mut String) {
        enum Step {
            Open(usize),
            Close,
        }
        let mut stack = vec![Step::Open(top)];
        while let Some(step) = stack.pop() {
            let Step::Open(node) = step else {
                out.push(')');
                continue;
            };
            out.push('(');
            let mut at = node;
            loop {
                let container = &self.nodes[at];
                if let Some(m) = container.message {
                    if !out.ends_with('(') {
                        out.push(' ');
                    }
                    out.push_str(&self.messages[m].number.to_string());
                }
                match &container.children[..] {
                    // A chain goes on with the only child.
                    [only] if container.message.is_some() => at = *only,
                    children => {
                        if !children.is_empty() && container.message.is_some() {
                            out.push(' ');
                        }
                        stack.push(Step::Close);
                        stack.extend(children.iter().rev().map(|&c| Step::Open(c)));
                        break;
                    }
                }
            }
        }
    }
}

/// The THREAD=REFERENCES answer for these messages (given in sequence order): the `thread-list`s, `(1 2)(3)`.
pub fn references(messages: &[Message]) -> String {
    let mut f = Forest { nodes: Vec::new(), messages };
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    // Step 1.
    for (i, m) in messages.iter().enumerate() {
        // A message without a Message-ID, or with one an earlier message has, gets a container of its own.
        let own = match m.id.as_deref() {
            Some(id) => match by_id.get(id) {
                Some(&n) if f.nodes[n].message.is_none() => {
                    f.nodes[n].message = Some(i);
                    n
                }
                Some(_) => f.new_node(Some(i)),
                None => {
                    let n = f.new_node(Some(i));
                    by_id.insert(id, n);
                    n
                }
            },
            None => f.new_node(Some(i)),
        };
        let mut chain: Vec<usize> = Vec::new();
        for r in &m.references {
            let n = match by_id.get(r.as_str()) {
                Some(&n) => n,
                None => {
                    let n = f.new_node(None);
                    by_id.insert(r, n);
                    n
                }
            };
            // 1.A: link each reference to the next, unless already linked or it would make a loop.
            if let Some(&prev) = chain.last()
                && prev != n
                && f.nodes[n].parent.is_none()
                && !f.is_ancestor(n, prev)
            {
                f.link(prev, n);
            }
            chain.push(n);
        }
        // 1.B: the last reference becomes the parent, replacing one set before, unless that makes a loop.
        f.unlink(own);
        if let Some(&last) = chain.last()
            && !f.is_ancestor(own, last)
        {
            f.link(last, own);
        }
    }
    // Steps 2 and 3.
    let roots: Vec<usize> = (0..f.nodes.len()).filter(|&n| f.nodes[n].parent.is_none()).collect();
    let mut roots = f.prune(roots);
    for &r in &roots {
        f.nodes[r].parent = None;
        f.sort_children(r);
    }
    // Step 4.
    roots.sort_by_key(|&r| f.sort_key(r));
    // Step 5: one root per base subject, a dummy or a non-reply preferred.
    let mut table: HashMap<String, usize> = HashMap::new();
    for &r in &roots {
        let Some(rep) = f.representative(r) else { continue };
        if rep.subject.is_empty() {
            continue;
        }
        let dummy = f.nodes[r].message.is_none();
        match table.get(&rep.subject) {
            None => {
                table.insert(rep.subject.clone(), r);
            }
            Some(&t) => {
                let t_dummy = f.nodes[t].message.is_none();
                let t_reply = f.representative(t).is_some_and(|m| m.reply);
                // A dummy over a message, or an original over a reply.
                if !t_dummy && (dummy || t_reply && !rep.reply) {
                    table.insert(rep.subject.clone(), r);
                }
            }
        }
    }
    let mut gathered: Vec<usize> = Vec::new();
    let mut replaced: HashMap<usize, usize> = HashMap::new();
    for &r in &roots {
        let subject = f.representative(r).map(|m| m.subject.clone()).unwrap_or_default();
        let Some(&t) = table.get(&subject).filter(|_| !subject.is_empty()) else {
            gathered.push(r);
            continue;
        };
        let t = *replaced.get(&t).unwrap_or(&t);
        if t == r {
            gathered.push(r);
            continue;
        }
        let (r_dummy, t_dummy) = (f.nodes[r].message.is_none(), f.nodes[t].message.is_none());
        let r_reply = f.representative(r).is_some_and(|m| m.reply);
        let t_reply = f.representative(t).is_some_and(|m| m.reply);
        if r_dummy && t_dummy {
            for c in std::mem::take(&mut f.nodes[r].children) {
                f.link(t, c);
            }
        } else if t_dummy || !r_dummy && r_reply && !t_reply {
            f.link(t, r);
        } else if r_dummy {
            // Only when the table kept a message over a dummy, which it does not: still, keep the dummy on top.
            f.link(r, t);
            let at = gathered.iter().position(|&g| g == t);
            match at {
                Some(at) => gathered[at] = r,
                None => gathered.push(r),
            }
            replaced.insert(t, r);
        } else {
            let d = f.new_node(None);
            f.link(d, t);
            f.link(d, r);
            match gathered.iter().position(|&g| g == t) {
                Some(at) => gathered[at] = d,
                None => gathered.push(d),
            }
            replaced.insert(t, d);
        }
    }
    // Step 6, for what the gathering moved.
    let mut out = String::new();
    for r in gathered {
        f.sort_children(r);
        f.write(r, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (Message-ID, references, date, subject) of one message.
    type Input<'a> = (&'a str, &'a [&'a str], i64, &'a str);

    /// The answer for these messages, in sequence order.
    fn thread(input: &[Input<'_>]) -> String {
        let messages: Vec<Message> = input
            .iter()
            .enumerate()
            .map(|(i, (id, refs, date, subject))| Message {
                number: i as u32 + 1,
                seq: i as u32 + 1,
                date: *date,
                subject: subject.trim_start_matches("re: ").to_string(),
                reply: subject.starts_with("re: "),
                id: (!id.is_empty()).then(|| id.to_string()),
                references: refs.iter().map(|r| r.to_string()).collect(),
            })
            .collect();
        references(&messages)
    }

    #[test]
    fn table() {
        let cases: &[(&str, &[Input<'_>], &str)] = &[
            ("no messages", &[], ""),
            ("a chain", &[("a", &[], 1, ""), ("b", &["a"], 2, ""), ("c", &["a", "b"], 3, "")], "(1 2 3)"),
            ("two replies", &[("a", &[], 1, ""), ("b", &["a"], 2, ""), ("c", &["a"], 3, "")], "(1 (2)(3))"),
            // imaptest `thread`: b's References make c b's parent, c's then break that link (a loop otherwise).
            (
                "loops are not made",
                &[("a", &[], 3, ""), ("b", &["a", "c"], 1, ""), ("c", &["b"], 2, "")],
                "(3 2)(1)",
            ),
            // imaptest `thread7`: the second <b> is treated as having no Message-ID.
            (
                "duplicate ids",
                &[("a", &[], 1, ""), ("b", &["a"], 1, ""), ("c", &["b"], 1, ""), ("b", &["a"], 1, "")],
                "(1 (2 3)(4))",
            ),
            ("a missing parent is a dummy", &[("b", &["x"], 1, ""), ("c", &["x"], 2, "")], "((1)(2))"),
            ("one child of a dummy is promoted", &[("b", &["x"], 1, "")], "(1)"),
            (
                "roots by date, ties by sequence",
                &[("a", &[], 5, "one"), ("b", &[], 1, "two"), ("c", &[], 5, "three")],
                "(2)(1)(3)",
            ),
            ("the same subject gathers", &[("a", &[], 1, "hi"), ("b", &[], 2, "re: hi")], "(1 2)"),
            ("two originals get a dummy", &[("a", &[], 1, "hi"), ("b", &[], 2, "hi")], "((1)(2))"),
        ];
        for (what, input, want) in cases {
            assert_eq!(thread(input), *want, "{what}");
        }
    }
}
