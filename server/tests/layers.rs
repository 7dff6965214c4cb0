//! Layers point one way (ARCHITECTURE.md, "Layers"): no import cycle among
//! the top-level modules of `server/src`, and none among its files.
//!
//! Every file is parsed with `syn`; every path it names (`use` trees, and
//! expression, type and macro paths that start with `crate::`, `super::`,
//! `self::` or a name the file imports) is resolved module by module. Two
//! graphs are checked:
//! - modules: `a → b` when a file under the top-level module `a` names
//!   `crate::b::…` (`lib.rs` is the node `lib`);
//! - files: `F → G` when `F` names an item that `G` defines. A `use` or `pub
//!   use` is an alias, not a definition: a path that reaches one is followed
//!   to the file that defines the item. A path that ends at a module, and a
//!   `mod x;` declaration, are not edges.
//!
//! `#[cfg(test)]` items are skipped: a test may reach anywhere. `main.rs` is a
//! crate of its own (it names the library as `switchboard::…`).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs;
use std::path::Path;

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

/// A module path from the crate root (`[]` is `lib.rs`).
type ModPath = Vec<String>;

/// What one module (a file, or an inline `mod x { … }` in it) holds.
#[derive(Debug, Default)]
struct Module {
    /// The file, relative to `src`.
    file: String,
    /// Names of the items defined here (types, functions, traits, consts…).
    defs: BTreeSet<String>,
    /// Child modules (declared `mod x;` or inline).
    children: BTreeSet<String>,
    /// Names brought in by a module-level `use`: name → the path it aliases,
    /// from the crate root (`None`: another crate's).
    aliases: BTreeMap<String, Option<ModPath>>,
    /// Module-level glob imports (`use a::b::*`), from the crate root.
    globs: Vec<ModPath>,
    /// Every path named in this module, from the crate root, before aliases
    /// are followed.
    named: Vec<ModPath>,
}

/// The source tree: module path → module.
#[derive(Debug, Default)]
struct Tree {
    modules: BTreeMap<ModPath, Module>,
}

/// Where a path leads.
#[derive(Debug, PartialEq)]
enum Target {
    /// An item defined in this file.
    Item(String),
    /// A module (a namespace, not an edge in the file graph).
    Module,
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .map(|m| m.path().is_ident("test"))
                .unwrap_or(false)
    })
}

/// The module a file is, from its path relative to `src`.
fn module_of(rel: &str) -> ModPath {
    let rel = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// A path as written, made absolute from module `here`; `None` for another
/// crate's path or a local name.
fn absolute(
    segments: &[String],
    here: &ModPath,
    local: &dyn Fn(&str) -> bool,
    uniform: bool,
) -> Option<ModPath> {
    let first = segments.first()?;
    let mut out: ModPath;
    let mut rest = &segments[1..];
    match first.as_str() {
        "crate" => out = Vec::new(),
        "self" => out = here.clone(),
        "super" => {
            out = here.clone();
            out.pop();
            while rest.first().is_some_and(|s| s == "super") {
                out.pop();
                rest = &rest[1..];
            }
        }
        name if uniform && local(name) => {
            out = here.clone();
            rest = segments;
        }
        _ => return None,
    }
    out.extend(rest.iter().cloned());
    Some(out)
}

/// Collects the leaves of a `use` tree as (alias name, path as written).
fn use_leaves(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<(String, Vec<String>)>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_leaves(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                if let Some(last) = prefix.last() {
                    out.push((last.clone(), prefix.clone()));
                }
            } else {
                let mut p = prefix.clone();
                p.push(name.clone());
                out.push((name, p));
            }
        }
        syn::UseTree::Rename(r) => {
            let mut p = prefix.clone();
            if r.ident != "self" {
                p.push(r.ident.to_string());
            }
            out.push((r.rename.to_string(), p));
        }
        syn::UseTree::Glob(_) => {
            let mut p = prefix.clone();
            p.push("*".to_string());
            out.push(("*".to_string(), p));
        }
        syn::UseTree::Group(g) => {
            for t in &g.items {
                use_leaves(t, prefix, out);
            }
        }
    }
}

/// First pass: the items, children and module-level `use`s of each module.
fn declare(tree: &mut Tree, file: &str, here: ModPath, items: &[syn::Item]) {
    let mut module = Module {
        file: file.to_string(),
        ..Module::default()
    };
    let mut raw_uses = Vec::new();
    for item in items {
        if is_cfg_test(attrs_of_item(item)) {
            continue;
        }
        let name = match item {
            syn::Item::Const(i) => Some(i.ident.to_string()),
            syn::Item::Enum(i) => Some(i.ident.to_string()),
            syn::Item::Fn(i) => Some(i.sig.ident.to_string()),
            syn::Item::Macro(i) => i.ident.as_ref().map(|i| i.to_string()),
            syn::Item::Static(i) => Some(i.ident.to_string()),
            syn::Item::Struct(i) => Some(i.ident.to_string()),
            syn::Item::Trait(i) => Some(i.ident.to_string()),
            syn::Item::TraitAlias(i) => Some(i.ident.to_string()),
            syn::Item::Type(i) => Some(i.ident.to_string()),
            syn::Item::Union(i) => Some(i.ident.to_string()),
            _ => None,
        };
        if let Some(name) = name {
            module.defs.insert(name);
        }
        match item {
            syn::Item::Mod(m) => {
                module.children.insert(m.ident.to_string());
                if let Some((_, inner)) = &m.content {
                    let mut child = here.clone();
                    child.push(m.ident.to_string());
                    declare(tree, file, child, inner);
                }
            }
            syn::Item::Use(u) => {
                let mut leaves = Vec::new();
                use_leaves(&u.tree, &mut Vec::new(), &mut leaves);
                raw_uses.extend(leaves);
            }
            _ => {}
        }
    }
    // A `use` path that starts with a plain name is relative when that name is
    // a child module or an item of this module (uniform paths).
    let locals: BTreeSet<String> = module
        .defs
        .iter()
        .chain(module.children.iter())
        .cloned()
        .collect();
    for (name, written) in raw_uses {
        let abs = absolute(&written, &here, &|n| locals.contains(n), true);
        if name == "*" {
            if let Some(mut abs) = abs {
                abs.pop();
                module.globs.push(abs);
            }
        } else {
            module.aliases.insert(name, abs);
        }
    }
    tree.modules.insert(here, module);
}

/// Second pass: every path a module names.
struct Names<'a> {
    tree: &'a Tree,
    stack: Vec<ModPath>,
    named: Vec<(ModPath, ModPath)>,
}

impl Names<'_> {
    fn here(&self) -> &ModPath {
        self.stack.last().expect("module stack")
    }

    fn local(&self, name: &str) -> bool {
        self.tree.modules.get(self.here()).is_some_and(|m| {
            m.children.contains(name) || m.aliases.get(name).is_some_and(|a| a.is_some())
        })
    }

    /// Records a path as written, if it names something of this crate.
    fn name(&mut self, written: &[String], uniform: bool) {
        if written.is_empty() {
            return;
        }
        let here = self.here().clone();
        let module = self.tree.modules.get(&here);
        let first = &written[0];
        let abs = match module.and_then(|m| m.aliases.get(first)) {
            // Through an alias the file imports: `use crate::store; store::X`.
            Some(Some(target)) if written.len() > 1 || uniform => {
                let mut p = target.clone();
                p.extend(written[1..].iter().cloned());
                Some(p)
            }
            _ => absolute(
                written,
                &here,
                &|n| self.local(n),
                uniform || written.len() > 1,
            ),
        };
        if let Some(abs) = abs {
            self.named.push((here, abs));
        }
    }

    fn tokens(&mut self, tokens: TokenStream) {
        let flat: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < flat.len() {
            match &flat[i] {
                TokenTree::Group(g) => {
                    self.tokens(g.stream());
                    i += 1;
                }
                TokenTree::Ident(id)
                    if matches!(id.to_string().as_str(), "crate" | "super" | "self") =>
                {
                    let mut path = vec![id.to_string()];
                    let mut j = i + 1;
                    loop {
                        let colons = matches!(
                            (flat.get(j), flat.get(j + 1)),
                            (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                                if a.as_char() == ':' && b.as_char() == ':'
                        );
                        match (colons, flat.get(j + 2)) {
                            (true, Some(TokenTree::Ident(next))) => {
                                path.push(next.to_string());
                                j += 3;
                            }
                            _ => break,
                        }
                    }
                    if path.len() > 1 {
                        self.name(&path, false);
                    }
                    i = j;
                }
                _ => i += 1,
            }
        }
    }
}

fn attrs_of_item(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::TraitAlias(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

impl<'ast> Visit<'ast> for Names<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if is_cfg_test(attrs_of_item(item)) {
            return;
        }
        match item {
            syn::Item::Mod(m) => {
                if let Some((_, items)) = &m.content {
                    let mut child = self.here().clone();
                    child.push(m.ident.to_string());
                    self.stack.push(child);
                    for i in items {
                        self.visit_item(i);
                    }
                    self.stack.pop();
                }
            }
            syn::Item::Use(u) => {
                let mut leaves = Vec::new();
                use_leaves(&u.tree, &mut Vec::new(), &mut leaves);
                for (_, mut written) in leaves {
                    if written.last().is_some_and(|s| s == "*") {
                        written.pop();
                    }
                    self.name(&written, true);
                }
            }
            other => syn::visit::visit_item(self, other),
        }
    }

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        let attrs: &[syn::Attribute] = match item {
            syn::ImplItem::Const(i) => &i.attrs,
            syn::ImplItem::Fn(i) => &i.attrs,
            syn::ImplItem::Type(i) => &i.attrs,
            syn::ImplItem::Macro(i) => &i.attrs,
            _ => &[],
        };
        if !is_cfg_test(attrs) {
            syn::visit::visit_impl_item(self, item);
        }
    }

    fn visit_stmt(&mut self, stmt: &'ast syn::Stmt) {
        if let syn::Stmt::Local(l) = stmt {
            if is_cfg_test(&l.attrs) {
                return;
            }
        }
        syn::visit::visit_stmt(self, stmt);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let written: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.name(&written, false);
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.tokens(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }
}

impl Tree {
    /// Parses a source tree given as (path relative to `src`, text) pairs.
    fn parse(files: &[(String, String)]) -> Tree {
        let mut tree = Tree::default();
        let mut parsed = Vec::new();
        for (rel, text) in files {
            if rel == "main.rs" {
                continue;
            }
            let file = syn::parse_file(text).unwrap_or_else(|e| panic!("{rel}: {e}"));
            declare(&mut tree, rel, module_of(rel), &file.items);
            parsed.push((rel.clone(), file));
        }
        let mut named = Vec::new();
        for (rel, file) in &parsed {
            let mut names = Names {
                tree: &tree,
                stack: vec![module_of(rel)],
                named: Vec::new(),
            };
            for item in &file.items {
                names.visit_item(item);
            }
            named.extend(names.named);
        }
        for (here, path) in named {
            if let Some(m) = tree.modules.get_mut(&here) {
                m.named.push(path);
            }
        }
        tree
    }

    /// Where an absolute path leads: the file defining its item, following
    /// `use` aliases; `None` for what this tree cannot see (another crate, a
    /// local name, an enum variant of a glob).
    fn resolve(&self, path: &[String], depth: usize) -> Option<(Target, String)> {
        if depth > 32 {
            return None;
        }
        let mut cur: ModPath = Vec::new();
        for (i, seg) in path.iter().enumerate() {
            let module = self.modules.get(&cur)?;
            if module.children.contains(seg) {
                let mut next = cur.clone();
                next.push(seg.clone());
                if self.modules.contains_key(&next) {
                    cur = next;
                    continue;
                }
                return None;
            }
            if module.defs.contains(seg) {
                return Some((Target::Item(seg.clone()), module.file.clone()));
            }
            if let Some(alias) = module.aliases.get(seg) {
                let mut p = alias.clone()?;
                p.extend(path[i + 1..].iter().cloned());
                return self.resolve(&p, depth + 1);
            }
            for glob in &module.globs {
                let mut p = glob.clone();
                p.extend(path[i..].iter().cloned());
                if let Some(found) = self.resolve(&p, depth + 1) {
                    return Some(found);
                }
            }
            return None;
        }
        Some((Target::Module, self.modules.get(&cur)?.file.clone()))
    }

    /// `a → b` between top-level modules, with one example path each.
    fn module_graph(&self) -> Graph {
        let mut g = Graph::default();
        for (here, m) in &self.modules {
            let from = top(here);
            for path in &m.named {
                let Some(first) = path.first() else { continue };
                let to = if self.modules.contains_key(&vec![first.clone()]) {
                    first.clone()
                } else {
                    "lib".to_string()
                };
                // A path into `lib` that is not one of its items is noise
                // (an enum variant of a glob, say): keep only what resolves.
                if to == "lib" && self.resolve(path, 0).is_none() {
                    continue;
                }
                g.add(&from, &to, || {
                    format!("{} names crate::{}", m.file, path.join("::"))
                });
            }
        }
        g
    }

    /// `F → G` when `F` names an item `G` defines.
    fn file_graph(&self) -> Graph {
        let mut g = Graph::default();
        for m in self.modules.values() {
            for path in &m.named {
                if let Some((Target::Item(item), file)) = self.resolve(path, 0) {
                    g.add(&m.file, &file, || {
                        format!("names crate::{} ({item})", path.join("::"))
                    });
                }
            }
        }
        g
    }
}

fn top(here: &ModPath) -> String {
    here.first().cloned().unwrap_or_else(|| "lib".to_string())
}

/// A directed graph with one example of why each edge exists.
#[derive(Debug, Default)]
struct Graph {
    edges: BTreeMap<String, BTreeMap<String, String>>,
}

impl Graph {
    fn add(&mut self, from: &str, to: &str, why: impl FnOnce() -> String) {
        self.edges.entry(to.to_string()).or_default();
        if from == to {
            self.edges.entry(from.to_string()).or_default();
            return;
        }
        self.edges
            .entry(from.to_string())
            .or_default()
            .entry(to.to_string())
            .or_insert_with(why);
    }

    /// Strongly connected components of more than one node (Tarjan).
    fn cycles(&self) -> Vec<Vec<String>> {
        let nodes: Vec<&String> = self.edges.keys().collect();
        let index_of: HashMap<&String, usize> =
            nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let succ: Vec<Vec<usize>> = nodes
            .iter()
            .map(|n| {
                self.edges[*n]
                    .keys()
                    .filter_map(|t| index_of.get(t).copied())
                    .collect()
            })
            .collect();
        let n = nodes.len();
        let (mut index, mut low, mut on) = (vec![usize::MAX; n], vec![0; n], vec![false; n]);
        let (mut stack, mut next, mut out) = (Vec::new(), 0, Vec::new());
        // Iterative Tarjan: (node, next successor to look at).
        for root in 0..n {
            if index[root] != usize::MAX {
                continue;
            }
            let mut work = vec![(root, 0usize)];
            index[root] = next;
            low[root] = next;
            next += 1;
            stack.push(root);
            on[root] = true;
            while let Some(&mut (v, ref mut k)) = work.last_mut() {
                if let Some(&w) = succ[v].get(*k) {
                    *k += 1;
                    if index[w] == usize::MAX {
                        index[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push(w);
                        on[w] = true;
                        work.push((w, 0));
                    } else if on[w] {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on[w] = false;
                        comp.push(nodes[w].clone());
                        if w == v {
                            break;
                        }
                    }
                    if comp.len() > 1 {
                        comp.sort();
                        out.push(comp);
                    }
                }
            }
        }
        out
    }

    /// A shortest cycle through `start` inside `within`, as a chain.
    fn chain(&self, start: &str, within: &BTreeSet<&str>) -> Vec<String> {
        let mut prev: HashMap<String, String> = HashMap::new();
        let mut queue = VecDeque::from([start.to_string()]);
        while let Some(v) = queue.pop_front() {
            for w in self.edges[&v].keys() {
                if !within.contains(w.as_str()) {
                    continue;
                }
                if w == start {
                    // Walk back from `v` to `start`, then read it forwards.
                    let mut chain = vec![start.to_string()];
                    let mut at = v.clone();
                    while at != start {
                        chain.push(at.clone());
                        at = prev[&at].clone();
                    }
                    chain.push(start.to_string());
                    chain.reverse();
                    return chain;
                }
                if !prev.contains_key(w) && w != start {
                    prev.insert(w.clone(), v.clone());
                    queue.push_back(w.clone());
                }
            }
        }
        vec![start.to_string()]
    }

    /// Every cycle, written out for the engineer who must cut it.
    fn report(&self, what: &str) -> Vec<String> {
        let mut lines = Vec::new();
        for comp in self.cycles() {
            let within: BTreeSet<&str> = comp.iter().map(String::as_str).collect();
            lines.push(format!(
                "{what}: {} form a cycle: {}",
                comp.len(),
                comp.join(", ")
            ));
            let mut seen = BTreeSet::new();
            for start in &comp {
                let chain = self.chain(start, &within);
                let key: BTreeSet<String> = chain.iter().cloned().collect();
                if !seen.insert(key) {
                    continue;
                }
                lines.push(format!("  cycle: {}", chain.join(" → ")));
                for pair in chain.windows(2) {
                    lines.push(format!(
                        "    {} → {}: {}",
                        pair[0], pair[1], self.edges[&pair[0]][&pair[1]]
                    ));
                }
            }
        }
        lines
    }
}

fn read_tree(dir: &Path, rel: &str, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = fs::read_dir(dir.join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if entry.path().is_dir() {
            read_tree(dir, &child, out);
        } else if name.ends_with(".rs") {
            let text = fs::read_to_string(entry.path()).expect("read source");
            out.push((child, text));
        }
    }
}

fn server_tree() -> Tree {
    let mut files = Vec::new();
    read_tree(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        "",
        &mut files,
    );
    assert!(files.len() > 20, "found only {} files", files.len());
    Tree::parse(&files)
}

#[test]
fn no_cycle_among_the_top_level_modules() {
    let report = server_tree().module_graph().report("modules");
    assert!(report.is_empty(), "\n{}\n", report.join("\n"));
}

#[test]
fn no_cycle_among_the_files() {
    let report = server_tree().file_graph().report("files");
    assert!(report.is_empty(), "\n{}\n", report.join("\n"));
}

/// What a lower layer must never name, beyond having no cycle
/// (ARCHITECTURE.md, "Layers"): records name nothing, events render nothing,
/// the store knows no frames and no configuration, the archive no store.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "events",
        &["protocol", "store", "archive", "settings", "config"],
    ),
    (
        "protocol",
        &["store", "archive", "hub", "settings", "config"],
    ),
    ("store", &["protocol", "hub", "bus", "settings", "config"]),
    (
        "archive",
        &["store", "archiver", "hub", "settings", "config"],
    ),
    ("keys", &["auth"]),
    ("metrics", &["notify", "store", "hub"]),
];

#[test]
fn lower_layers_name_nothing_above_them() {
    let graph = server_tree().module_graph();
    let mut wrong = Vec::new();
    for (from, tos) in &graph.edges {
        for (to, why) in tos {
            let forbidden = FORBIDDEN
                .iter()
                .any(|(f, banned)| f == from && banned.contains(&to.as_str()));
            // Records are the bottom layer; only `lib` and `main` name `config`.
            let records = from == "domain";
            let config = to == "config" && from != "lib";
            if forbidden || records || config {
                wrong.push(format!("{from} → {to}: {why}"));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}\n", wrong.join("\n"));
}

fn synthetic(files: &[(&str, &str)]) -> Tree {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    Tree::parse(&files)
}

#[test]
fn the_checker_finds_a_cycle_and_follows_re_exports() {
    let tree = synthetic(&[
        ("lib.rs", "pub mod a; pub mod b; pub mod c;"),
        // a → c's re-export of b's item: an edge a → b, not a → c.
        ("a.rs", "use crate::c::B; pub struct A(B);"),
        ("b/mod.rs", "mod inner; pub use inner::B;"),
        ("b/inner.rs", "pub struct B(super::super::a::A);"),
        (
            "c.rs",
            "pub use crate::b::B;\n#[cfg(test)]\nmod tests { use crate::a::A; }",
        ),
    ]);
    let files = tree.file_graph();
    let from_a: Vec<&String> = files.edges["a.rs"].keys().collect();
    assert_eq!(from_a, ["b/inner.rs"]);
    // c's re-export names b's item; its test module's `use` is no edge.
    let from_c: Vec<&String> = files.edges["c.rs"].keys().collect();
    assert_eq!(from_c, ["b/inner.rs"]);
    let report = files.report("files");
    assert!(
        report
            .iter()
            .any(|l| l.contains("cycle: a.rs → b/inner.rs → a.rs")
                || l.contains("cycle: b/inner.rs → a.rs → b/inner.rs")),
        "{report:#?}"
    );
    let modules = tree.module_graph().report("modules");
    assert!(
        modules
            .iter()
            .any(|l| l.starts_with("modules: 3 form a cycle: a, b, c")),
        "{modules:#?}"
    );
}

#[test]
fn the_checker_passes_a_tree_without_cycles() {
    let tree = synthetic(&[
        ("lib.rs", "pub mod a; pub mod b;"),
        ("a.rs", "use crate::b; pub fn f() -> b::B { crate::b::B }"),
        ("b.rs", "pub struct B;\nmacro_rules! m { () => {} }"),
    ]);
    assert!(tree.module_graph().report("modules").is_empty());
    assert!(tree.file_graph().report("files").is_empty());
    assert_eq!(tree.file_graph().edges["a.rs"].len(), 1);
}
