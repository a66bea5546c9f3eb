//! What the functions ask of AWS, set against what `template.yaml` lets them do.
//!
//! Three sources: the committed table `infra/iam/needs.yaml` (per function, per resource, the
//! IAM actions it needs: the review surface), the template's policies, and what the
//! functions were recorded asking for while the end-to-end test drove them
//! (`ps_aws::audit`). The tests hold all three equal.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::workspace_root;

/// `infra/iam/needs.yaml`: per function (by its binary's name), what it needs; `groups` are
/// the needs of code that several functions run (the sync engine).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Needs {
    #[serde(default)]
    pub groups: BTreeMap<String, FunctionNeeds>,
    pub functions: BTreeMap<String, FunctionNeeds>,
}

impl Needs {
    /// A function's needs with those of the groups it uses.
    pub fn of(&self, function: &str) -> FunctionNeeds {
        let mut all = FunctionNeeds::default();
        let Some(own) = self.functions.get(function) else {
            return all;
        };
        let groups = own.uses.iter().map(|g| {
            self.groups
                .get(g)
                .unwrap_or_else(|| panic!("{function} uses group {g}, which the table lacks"))
        });
        for part in std::iter::once(own).chain(groups) {
            for (into, from) in [
                (&mut all.calls, &part.calls),
                (&mut all.keys, &part.keys),
                (&mut all.for_lambda, &part.for_lambda),
            ] {
                for (resource, items) in from {
                    into.entry(resource.clone())
                        .or_default()
                        .extend(items.iter().cloned());
                }
            }
        }
        all
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionNeeds {
    /// Resource (a template logical id, `Table/index/NAME`) → the actions the code calls.
    #[serde(default)]
    pub calls: BTreeMap<String, BTreeSet<String>>,
    /// Resource → the item key prefixes the code touches there; the template must restrict
    /// the function to them (`dynamodb:LeadingKeys`).
    #[serde(default)]
    pub keys: BTreeMap<String, BTreeSet<String>>,
    /// Resource → actions Lambda itself takes with the function's role (an event source
    /// mapping's on-failure destination): needed, but never made by the code.
    #[serde(default)]
    pub for_lambda: BTreeMap<String, BTreeSet<String>>,
    /// Groups of needs this function's code shares with others.
    #[serde(default)]
    pub uses: Vec<String>,
}

impl FunctionNeeds {
    /// Every (action, resource) the role must allow.
    pub fn all(&self) -> BTreeSet<(String, String)> {
        self.calls
            .iter()
            .chain(&self.for_lambda)
            .flat_map(|(resource, actions)| actions.iter().map(|a| (a.clone(), resource.clone())))
            .collect()
    }
}

pub fn needs() -> Needs {
    let path = workspace_root().join("infra/iam/needs.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(&path).expect("infra/iam/needs.yaml"))
        .expect("infra/iam/needs.yaml is a needs table")
}

pub fn template() -> Value {
    serde_yaml_ng::from_str(
        &std::fs::read_to_string(workspace_root().join("template.yaml")).expect("template.yaml"),
    )
    .expect("template.yaml parses")
}

/// One `Allow` statement of a function's policy, its resources resolved to logical ids.
#[derive(Debug, Clone)]
pub struct Statement {
    pub actions: BTreeSet<String>,
    pub resources: BTreeSet<String>,
    /// `dynamodb:LeadingKeys` patterns, when the statement is conditioned on them.
    pub leading_keys: Option<BTreeSet<String>>,
}

impl Statement {
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        self.actions.contains(action) && self.resources.iter().any(|r| matches(r, resource))
    }
}

/// An ARN pattern (with a trailing `*` at most, as the template writes them) against a name.
pub fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// A resource reference to its logical id: `!GetAtt T.Arn` → `T`, `!Sub "${T.Arn}/index/*"`
/// → `T/index/*`, `!GetAtt T.StreamArn` → `T/stream`, `!Ref S` → `S`.
pub fn resolve(v: &Value) -> String {
    match v {
        Value::Tagged(t) => {
            let inner = t.value.as_str().unwrap_or_default();
            match t.tag.to_string().as_str() {
                "!GetAtt" => match inner.split_once('.') {
                    Some((id, "Arn")) => id.to_owned(),
                    Some((id, "StreamArn")) => format!("{id}/stream"),
                    _ => format!("?{inner}"),
                },
                "!Ref" => inner.to_owned(),
                "!Sub" => {
                    let re_start = inner.find("${").map(|i| i + 2);
                    let re_end = inner.find('}');
                    match (re_start, re_end) {
                        (Some(s), Some(e)) => {
                            let reference = &inner[s..e];
                            let id = reference.strip_suffix(".Arn").unwrap_or(reference);
                            format!("{id}{}", &inner[e + 1..])
                        }
                        _ => inner.to_owned(),
                    }
                }
                other => format!("?{other} {inner}"),
            }
        }
        Value::String(s) => s.clone(),
        other => format!("?{other:?}"),
    }
}

fn strings(v: &Value) -> BTreeSet<String> {
    match v {
        Value::Sequence(items) => items.iter().map(resolve).collect(),
        Value::Null => BTreeSet::new(),
        other => BTreeSet::from([resolve(other)]),
    }
}

/// The template's functions, by the binary each one builds.
pub fn functions(template: &Value) -> BTreeMap<String, (String, Value)> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(id, r)| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .expect("every function names its binary")
                .to_owned();
            (binary, (id.as_str().unwrap().to_owned(), r.clone()))
        })
        .collect()
}

/// A function's `Allow` statements. Panics on anything this check cannot read (a SAM policy
/// template, a `Deny`, a condition other than `dynamodb:LeadingKeys`), so that nothing
/// slips past it unread.
pub fn statements(function: &Value) -> Vec<Statement> {
    let mut out = Vec::new();
    for policy in function["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        let listed = policy["Statement"]
            .as_sequence()
            .unwrap_or_else(|| panic!("only inline statements are checked, not {policy:?}"));
        for s in listed {
            assert_eq!(s["Effect"].as_str(), Some("Allow"), "{s:?}");
            let leading_keys = match &s["Condition"] {
                Value::Null => None,
                condition => {
                    let c = condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"].clone();
                    assert!(
                        !c.is_null() && condition.as_mapping().map(|m| m.len()) == Some(1),
                        "only a ForAllValues:StringLike dynamodb:LeadingKeys condition is read: {condition:?}"
                    );
                    Some(strings(&c))
                }
            };
            out.push(Statement {
                actions: strings(&s["Action"]),
                resources: strings(&s["Resource"]),
                leading_keys,
            });
        }
    }
    out
}

/// The environment variables that name a resource in `function` (its own and the
/// template's globals), to the resource's logical id.
pub fn resource_names(template: &Value, function: &Value) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for vars in [
        &template["Globals"]["Function"]["Environment"]["Variables"],
        &function["Properties"]["Environment"]["Variables"],
    ] {
        for (k, v) in vars.as_mapping().into_iter().flatten() {
            if let Value::Tagged(_) = v {
                names.insert(k.as_str().unwrap().to_owned(), resolve(v));
            }
        }
    }
    names
}

/// A recorded resource (`META_TABLE/index/byPending`) under its logical id
/// (`MetaTable/index/byPending`).
pub fn logical(resource: &str, names: &BTreeMap<String, String>) -> String {
    let (head, tail) = match resource.split_once('/') {
        Some((h, t)) => (h, format!("/{t}")),
        None => (resource, String::new()),
    };
    match names.get(head) {
        Some(id) => format!("{id}{tail}"),
        None => format!("?{resource}"),
    }
}

/// Everything the functions were recorded asking for under `dir`.
pub fn recorded(dir: &std::path::Path) -> Vec<ps_aws::Recorded> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("the audit directory")
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).expect("an audit file");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            out.push(serde_json::from_str(line).expect("an audit line"));
        }
    }
    out
}
