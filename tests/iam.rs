//! Every AWS call a function makes is allowed by its policy in `template.yaml`, and the policy
//! allows nothing more. moto enforces no IAM, so only this can see a refusal before AWS does.
//!
//! `infra/iam/needs.yaml` is the table of what each function needs. The first test holds the
//! template's policies to it; the second (run by `tests/smoke.sh` after driving the real
//! stack, whose functions record every request's IAM actions: `ps_aws::audit`) holds the
//! table to what the functions were seen doing.

use std::collections::{BTreeMap, BTreeSet};

use placeholder_sync_tests::iam::{
    self, FunctionNeeds, Statement, logical, matches, recorded, resource_names, statements,
};

fn with_star(prefixes: &BTreeSet<String>) -> BTreeSet<String> {
    prefixes.iter().map(|p| format!("{p}*")).collect()
}

/// Where a function's statements and its needs disagree, in words.
fn policy_problems(function: &str, granted: &[Statement], needs: &FunctionNeeds) -> Vec<String> {
    let mut problems = Vec::new();
    let all = needs.all();
    for (action, resource) in &all {
        if !granted.iter().any(|s| s.allows(action, resource)) {
            problems.push(format!(
                "{function} needs {action} on {resource}; its policy does not allow it"
            ));
        }
    }
    for s in granted {
        for action in &s.actions {
            for pattern in &s.resources {
                if !all.iter().any(|(a, r)| a == action && matches(pattern, r)) {
                    problems.push(format!(
                        "{function}'s policy allows {action} on {pattern}, which it never needs"
                    ));
                }
            }
        }
        // A statement on a resource the table restricts to some keys carries exactly them.
        for resource in &s.resources {
            let expected = needs.keys.get(resource).map(with_star);
            if expected != s.leading_keys {
                problems.push(format!(
                    "{function}'s statement on {resource} has leading keys {:?}; the needs table says {:?}",
                    s.leading_keys, expected
                ));
            }
        }
    }
    problems
}

#[test]
fn every_policy_allows_exactly_what_its_function_needs() {
    let template = iam::template();
    let needs = iam::needs();
    let functions = iam::functions(&template);
    let mut problems = Vec::new();
    for name in needs.functions.keys() {
        if !functions.contains_key(name) {
            problems.push(format!(
                "the needs table names {name}, which the template does not build"
            ));
        }
    }
    for (name, (_, function)) in &functions {
        problems.extend(policy_problems(
            name,
            &statements(function),
            &needs.of(name),
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The public API's functions may touch only posts, comments and their id counters in the
/// meta table: never a sync state, the lease or a claim.
#[test]
fn the_public_api_reaches_only_the_id_counters_in_the_meta_table() {
    let template = iam::template();
    for (name, (_, function)) in iam::functions(&template) {
        if !["posts-api", "comments-api"].contains(&name.as_str()) {
            continue;
        }
        for s in statements(&function) {
            if s.resources.iter().any(|r| r.starts_with("MetaTable")) {
                assert_eq!(
                    s.leading_keys,
                    Some(BTreeSet::from(["counter#*".to_owned()])),
                    "{name}: {s:?}"
                );
            }
        }
    }
}

/// The check itself can fail: a policy missing an action a transaction item needs, and one
/// allowing an action nobody needs, are both reported.
#[test]
fn the_check_reports_a_missing_and_a_needless_grant() {
    let needs = FunctionNeeds {
        calls: BTreeMap::from([(
            "EntitiesTable".to_owned(),
            BTreeSet::from(["dynamodb:UpdateItem".to_owned()]),
        )]),
        ..FunctionNeeds::default()
    };
    let granted = vec![Statement {
        actions: BTreeSet::from(["dynamodb:Scan".to_owned()]),
        resources: BTreeSet::from(["EntitiesTable".to_owned()]),
        leading_keys: None,
    }];
    let problems = policy_problems("f", &granted, &needs);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("needs dynamodb:UpdateItem on EntitiesTable"));
    assert!(problems[1].contains("allows dynamodb:Scan on EntitiesTable"));
}

/// Run by `tests/smoke.sh` with `PS_AWS_AUDIT_DIR` pointing at what the stack's functions
/// recorded: the needs table says exactly what they did.
#[test]
#[ignore = "needs the recordings of a driven stack: tests/smoke.sh runs it"]
fn the_needs_table_is_what_the_functions_were_seen_doing() {
    let dir = std::env::var("PS_AWS_AUDIT_DIR").expect("PS_AWS_AUDIT_DIR");
    let template = iam::template();
    let needs = iam::needs();
    let functions = iam::functions(&template);
    let mut calls: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut keys: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for line in recorded(std::path::Path::new(&dir)) {
        // The local stand-ins (table set-up, the stream pump) are not deployed.
        let Some((_, function)) = functions.get(&line.function) else {
            continue;
        };
        let resource = logical(&line.need.resource, &resource_names(&template, function));
        calls
            .entry(line.function.clone())
            .or_default()
            .entry(resource.clone())
            .or_default()
            .insert(line.need.action.clone());
        if !line.need.key.is_empty() {
            keys.entry(line.function.clone())
                .or_default()
                .entry(resource)
                .or_default()
                .insert(line.need.key.clone());
        }
    }
    let mut problems = Vec::new();
    let mut seen_in_group: BTreeMap<&str, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut seen_keys_in_group: BTreeMap<&str, BTreeMap<String, BTreeSet<String>>> =
        BTreeMap::new();
    for name in functions.keys() {
        let table = needs.of(name);
        let seen = calls.remove(name).unwrap_or_default();
        // Nothing the function did is missing from the table (so from its policy)...
        for (resource, actions) in &seen {
            for action in actions {
                if !table
                    .calls
                    .get(resource)
                    .is_some_and(|a| a.contains(action))
                {
                    problems.push(format!(
                        "{name} called {action} on {resource}: add it to infra/iam/needs.yaml and its policy"
                    ));
                }
            }
        }
        // ...and everything the table says of the function alone, it was seen doing; what a
        // group says, one of the functions running that code was.
        let own = needs.functions.get(name).map(|f| &f.calls);
        for (resource, actions) in own.into_iter().flatten() {
            for action in actions {
                if !seen.get(resource).is_some_and(|a| a.contains(action)) {
                    problems.push(format!(
                        "{name} was never seen calling {action} on {resource}, which the table says it needs"
                    ));
                }
            }
        }
        for group in needs
            .functions
            .get(name)
            .map(|f| &f.uses)
            .into_iter()
            .flatten()
        {
            let into = seen_in_group.entry(group).or_default();
            for (resource, actions) in &seen {
                into.entry(resource.clone())
                    .or_default()
                    .extend(actions.iter().cloned());
            }
        }
        // Keys as calls: the function touched none the table does not give it; the keys the
        // table gives the function itself, it was seen touching; a group's, one of the
        // functions running that code was.
        let seen_keys = keys.remove(name).unwrap_or_default();
        let own_keys = needs.functions.get(name).map(|f| &f.keys);
        for (resource, seen) in &seen_keys {
            let allowed = table.keys.get(resource).cloned().unwrap_or_default();
            if !table.keys.contains_key(resource) {
                continue;
            }
            if !seen.is_subset(&allowed) {
                problems.push(format!(
                    "{name}: keys on {resource}: the needs table says {allowed:?}, seen {seen:?}"
                ));
            }
        }
        for (resource, restricted) in own_keys.into_iter().flatten() {
            let seen = seen_keys.get(resource).cloned().unwrap_or_default();
            if !restricted.is_subset(&seen) {
                problems.push(format!(
                    "{name}: keys on {resource}: the needs table says {restricted:?}, seen {seen:?}"
                ));
            }
        }
        for group in needs
            .functions
            .get(name)
            .map(|f| &f.uses)
            .into_iter()
            .flatten()
        {
            let into = seen_keys_in_group.entry(group).or_default();
            for (resource, seen) in &seen_keys {
                into.entry(resource.clone())
                    .or_default()
                    .extend(seen.iter().cloned());
            }
        }
    }
    for (group, wanted) in &needs.groups {
        let seen = seen_keys_in_group
            .get(group.as_str())
            .cloned()
            .unwrap_or_default();
        for (resource, restricted) in &wanted.keys {
            let seen = seen.get(resource).cloned().unwrap_or_default();
            if !restricted.is_subset(&seen) {
                problems.push(format!(
                    "no function running {group} was seen touching keys {restricted:?} on {resource} (seen {seen:?})"
                ));
            }
        }
    }
    for (group, wanted) in &needs.groups {
        let seen = seen_in_group
            .get(group.as_str())
            .cloned()
            .unwrap_or_default();
        for (resource, actions) in &wanted.calls {
            for action in actions {
                if !seen.get(resource).is_some_and(|a| a.contains(action)) {
                    problems.push(format!(
                        "no function running {group} was seen calling {action} on {resource}"
                    ));
                }
            }
        }
    }
    assert!(
        calls.is_empty(),
        "recorded functions the template does not have: {calls:?}"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
