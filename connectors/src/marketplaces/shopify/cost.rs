//! Shopify's calculated query cost, as the GraphQL Admin API documents it
//! (shopify.dev "GraphQL Admin API rate limits", cost calculation):
//!
//! - a scalar or enum field costs 0, an object 1;
//! - a connection is sized by its `first`/`last` argument: 2 + n × (the cost of one
//!   node, itself an object);
//! - a mutation field costs 10;
//! - a single query may cost at most 1,000 (`MAX_COST_EXCEEDED`, checked on the
//!   requested cost before anything runs).
//!
//! The requested cost is computed from the query alone; the actual cost from the
//! same query and the data it returned (a connection counts the nodes it really
//! returned, a null object costs nothing). The sandbox charges with these, and the
//! client sizes its pages with them so a query never exceeds the single-query limit.
//! The live API's own numbers are often lower for nested connections; this is the
//! published rule, so it errs on the expensive side.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationType, Selection, SelectionSet,
};
use async_graphql::parser::Positioned;
use async_graphql::Value as GqlValue;
use serde_json::Value;
use std::cell::Cell;
use std::collections::HashMap;

/// The published cap on one query's requested cost.
pub const MAX_SINGLE_QUERY_COST: u64 = 1_000;
/// What one mutation field costs.
pub const MUTATION_COST: u64 = 10;

/// An operation's type, selection set and variable defaults.
pub type PickedOperation<'a> = (
    OperationType,
    &'a Positioned<SelectionSet>,
    Vec<(String, Value)>,
);

/// The operation a request names (or its only one), with its type.
pub fn pick_operation<'a>(
    doc: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<PickedOperation<'a>> {
    let op = match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        _ => return None,
    };
    let defaults = op
        .node
        .variable_definitions
        .iter()
        .filter_map(|v| {
            let d = v.node.default_value.as_ref()?;
            Some((
                v.node.name.node.to_string(),
                d.node.clone().into_json().ok()?,
            ))
        })
        .collect();
    Some((op.node.ty, &op.node.selection_set, defaults))
}

struct Walker<'a> {
    doc: &'a ExecutableDocument,
    vars: HashMap<String, Value>,
    depth_guard: u32,
    /// Selections visited so far: fragments spread inside fragments can fan out
    /// exponentially, so the walk stops counting past a budget.
    visits: Cell<u64>,
}

const VISIT_BUDGET: u64 = 200_000;

impl Walker<'_> {
    fn int_arg(&self, field: &Field, name: &str) -> Option<u64> {
        let (_, v) = field
            .arguments
            .iter()
            .find(|(n, _)| n.node.as_str() == name)?;
        let value = v
            .node
            .clone()
            .into_const_with(|var| {
                self.vars
                    .get(var.as_str())
                    .and_then(|j| GqlValue::from_json(j.clone()).ok())
                    .ok_or(())
            })
            .ok()?;
        match value {
            GqlValue::Number(n) => Some(n.as_i64()?.max(0) as u64),
            _ => None,
        }
    }

    /// Every field selected at this level, fragments flattened.
    fn fields<'s>(&'s self, set: &'s SelectionSet, out: &mut Vec<&'s Field>, depth: u32) {
        if depth > 32 {
            return;
        }
        for item in &set.items {
            let v = self.visits.get() + 1;
            self.visits.set(v);
            if v > VISIT_BUDGET {
                return;
            }
            match &item.node {
                Selection::Field(f) => out.push(&f.node),
                Selection::InlineFragment(fr) => {
                    self.fields(&fr.node.selection_set.node, out, depth + 1)
                }
                Selection::FragmentSpread(sp) => {
                    if let Some(def) = self.doc.fragments.get(&sp.node.fragment_name.node) {
                        self.fields(&def.node.selection_set.node, out, depth + 1)
                    }
                }
            }
        }
    }

    /// The cost of a selection set; with `data`, the actual cost of what came back.
    fn set_cost(&self, set: &SelectionSet, data: Option<&Value>, depth: u32) -> u64 {
        if depth > self.depth_guard {
            return 0;
        }
        let mut fields = Vec::new();
        self.fields(set, &mut fields, 0);
        let mut total: u64 = 0;
        for f in fields {
            if f.selection_set.node.items.is_empty() || f.name.node.starts_with("__") {
                continue; // scalars, enums, introspection
            }
            let key = f
                .alias
                .as_ref()
                .map(|a| a.node.as_str())
                .unwrap_or(f.name.node.as_str());
            let value = data.map(|d| d.get(key).unwrap_or(&Value::Null));
            let sized = self.int_arg(f, "first").or_else(|| self.int_arg(f, "last"));
            total = total.saturating_add(match sized {
                Some(n) => self.connection_cost(&f.selection_set.node, n, value, depth),
                None => self.object_cost(&f.selection_set.node, value, depth),
            });
        }
        total
    }

    fn object_cost(&self, set: &SelectionSet, value: Option<&Value>, depth: u32) -> u64 {
        match value {
            None => 1u64.saturating_add(self.set_cost(set, None, depth + 1)),
            Some(Value::Null) => 0,
            // A plain list of objects (no size argument) is charged as one object.
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| self.object_cost(set, Some(i), depth))
                .max()
                .unwrap_or(0),
            Some(v) => 1u64.saturating_add(self.set_cost(set, Some(v), depth + 1)),
        }
    }

    /// 2 + n × node; `nodes { }` and `edges { node { } }` select the same nodes.
    fn connection_cost(
        &self,
        set: &SelectionSet,
        n: u64,
        value: Option<&Value>,
        depth: u32,
    ) -> u64 {
        if matches!(value, Some(Value::Null)) {
            return 0;
        }
        let mut fields = Vec::new();
        self.fields(set, &mut fields, 0);
        let mut per_node_requested = 0u64;
        let mut has_nodes = false;
        let mut actual = 0u64;
        for f in fields {
            let key = f
                .alias
                .as_ref()
                .map(|a| a.node.as_str())
                .unwrap_or(f.name.node.as_str());
            match f.name.node.as_str() {
                "nodes" => {
                    has_nodes = true;
                    match value.and_then(|v| v.get(key)) {
                        Some(Value::Array(items)) => {
                            let c = items
                                .iter()
                                .map(|i| {
                                    self.object_cost(&f.selection_set.node, Some(i), depth + 1)
                                })
                                .fold(0u64, u64::saturating_add);
                            actual = actual.max(c);
                        }
                        _ => {
                            per_node_requested = per_node_requested.max(1u64.saturating_add(
                                self.set_cost(&f.selection_set.node, None, depth + 1),
                            ));
                        }
                    }
                }
                "edges" => {
                    let mut edge_fields = Vec::new();
                    self.fields(&f.selection_set.node, &mut edge_fields, 0);
                    for ef in edge_fields
                        .into_iter()
                        .filter(|ef| ef.name.node.as_str() == "node")
                    {
                        has_nodes = true;
                        let node_key = ef.alias.as_ref().map(|a| a.node.as_str()).unwrap_or("node");
                        match value.and_then(|v| v.get(key)) {
                            Some(Value::Array(edges)) => {
                                let c = edges
                                    .iter()
                                    .map(|e| {
                                        self.object_cost(
                                            &ef.selection_set.node,
                                            Some(e.get(node_key).unwrap_or(&Value::Null)),
                                            depth + 1,
                                        )
                                    })
                                    .fold(0u64, u64::saturating_add);
                                actual = actual.max(c);
                            }
                            _ => {
                                per_node_requested = per_node_requested.max(1u64.saturating_add(
                                    self.set_cost(&ef.selection_set.node, None, depth + 1),
                                ));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if !has_nodes {
            return self.list_cost(set, n, value, depth);
        }
        if value.is_some() {
            2u64.saturating_add(actual)
        } else {
            2u64.saturating_add(n.saturating_mul(per_node_requested))
        }
    }

    /// A plain list sized by `first` (`fulfillments(first: 5)`): n objects.
    fn list_cost(&self, set: &SelectionSet, n: u64, value: Option<&Value>, depth: u32) -> u64 {
        match value {
            None => n.saturating_mul(1u64.saturating_add(self.set_cost(set, None, depth + 1))),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| self.object_cost(set, Some(i), depth))
                .fold(0u64, u64::saturating_add),
            Some(v) => self.object_cost(set, Some(v), depth),
        }
    }
}

/// Requested cost of an operation, from the query alone.
pub fn requested_cost(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Value,
) -> Option<(OperationType, u64)> {
    let (ty, set, defaults) = pick_operation(doc, operation_name)?;
    let walker = walker(doc, variables, defaults);
    let cost = match ty {
        OperationType::Mutation => mutation_cost(&walker, &set.node),
        _ => walker.set_cost(&set.node, None, 0),
    };
    Some((ty, cost))
}

/// Actual cost: the same rule applied to the `data` the operation returned.
pub fn actual_cost(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Value,
    data: &Value,
) -> Option<u64> {
    let (ty, set, defaults) = pick_operation(doc, operation_name)?;
    let walker = walker(doc, variables, defaults);
    Some(match ty {
        OperationType::Mutation => mutation_cost(&walker, &set.node),
        _ => walker.set_cost(&set.node, Some(data), 0),
    })
}

fn walker<'a>(
    doc: &'a ExecutableDocument,
    variables: &Value,
    defaults: Vec<(String, Value)>,
) -> Walker<'a> {
    let mut vars: HashMap<String, Value> = defaults.into_iter().collect();
    if let Value::Object(map) = variables {
        for (k, v) in map {
            vars.insert(k.clone(), v.clone());
        }
    }
    Walker {
        doc,
        vars,
        depth_guard: 64,
        visits: Cell::new(0),
    }
}

fn mutation_cost(walker: &Walker<'_>, set: &SelectionSet) -> u64 {
    let mut fields = Vec::new();
    walker.fields(set, &mut fields, 0);
    (fields
        .iter()
        .filter(|f| !f.name.node.starts_with("__"))
        .count() as u64)
        .saturating_mul(MUTATION_COST)
}

/// Requested cost of a query text with its variables; `None` when it does not parse.
pub fn query_cost(query: &str, variables: &Value) -> Option<u64> {
    let doc = async_graphql::parser::parse_query(query).ok()?;
    requested_cost(&doc, None, variables).map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn published_example() {
        // products(first: 10) { variants(first: 5) { price } } style nesting:
        // 2 + 10 × (1 + (2 + 5 × 1)) = 82.
        let q = "{ products(first: 10) { edges { node { title variants(first: 5) { edges { node { price } } } } } } }";
        assert_eq!(query_cost(q, &json!({})), Some(82));
    }

    #[test]
    fn objects_scalars_variables_and_fragments() {
        let q =
            "query Q($n: Int!) { orders(first: $n) { pageInfo { hasNextPage } nodes { id ...F } } }
                 fragment F on Order { totalPriceSet { shopMoney { amount } } customer { id } }";
        // node = 1 + (MoneyBag 1 + MoneyV2 1) + customer 1 = 4; 2 + 5 × 4 = 22.
        assert_eq!(query_cost(q, &json!({"n": 5})), Some(22));
        let doc = async_graphql::parser::parse_query(q).unwrap();
        let data = json!({"orders": {"pageInfo": {"hasNextPage": false}, "nodes": [
            {"id": "1", "totalPriceSet": {"shopMoney": {"amount": "1"}}, "customer": null},
            {"id": "2", "totalPriceSet": {"shopMoney": {"amount": "1"}}, "customer": {"id": "c"}}
        ]}});
        // 2 + (1 + 2) + (1 + 2 + 1) = 9
        assert_eq!(actual_cost(&doc, None, &json!({"n": 5}), &data), Some(9));
    }

    #[test]
    fn hostile_queries_stay_cheap_to_price() {
        // Fragments spreading each other twice per level, and a cycle.
        let mut q = String::from("{ ...F0 }\n");
        for i in 0..40 {
            q.push_str(&format!(
                "fragment F{i} on QueryRoot {{ a {{ x }} ...F{} ...F{} }}\n",
                i + 1,
                i + 1
            ));
        }
        q.push_str("fragment F40 on QueryRoot { ...F0 }\n");
        let start = std::time::Instant::now();
        assert!(query_cost(&q, &json!({})).is_some());
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
        let huge = "{ orders(first: 2147483647) { nodes { lineItems(first: 2147483647) { nodes { a { b } } } } } }";
        assert!(query_cost(huge, &json!({})).unwrap() > MAX_SINGLE_QUERY_COST);
    }

    #[test]
    fn mutations_cost_ten() {
        let q = "mutation { fulfillmentCreate(fulfillment: {lineItemsByFulfillmentOrder: []}) { fulfillment { id } userErrors { message } } }";
        assert_eq!(query_cost(q, &json!({})), Some(10));
    }
}
