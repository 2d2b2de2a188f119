//! The DynamoDB ledger store, shared by every Lambda instance.
//!
//! Table: partition key `pk` (string), sort key `sk` (string); each item also holds
//! `claimed_at` (milliseconds), `claimed_by` (request id), `claim_id` (which claim of that
//! request), `note`, and `expires_at` (seconds since the epoch), which is the table's TTL
//! attribute. A claim is a `PutItem` with the condition "no item, or an expired one", so
//! concurrent claims of one key have exactly one winner; a release is a `DeleteItem` on
//! condition that the releaser (and, for an action's claims, that very claim) still holds it.
//! Reads are strongly consistent.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnValuesOnConditionCheckFailure,
};
use jiff::Timestamp;

use super::{BoxFuture, Entry, Key, LedgerError, Store};

/// Attribute names; `expires_at` is the table's TTL attribute.
pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// Which claim wrote an item: releases are conditional on it.
const CLAIM_ID: &str = "claim_id";
/// Set on a claim its request may still give back.
const PENDING: &str = "pending";
/// How many times keys `BatchGetItem` leaves unprocessed are asked again.
const BATCH_ATTEMPTS: usize = 3;

/// A ledger table.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(key: &Key) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PK.to_owned(), AttributeValue::S(key.pk.clone())),
            (SK.to_owned(), AttributeValue::S(key.sk.clone())),
        ])
    }

    async fn read(&self, key: &Key) -> Result<Option<Entry>, LedgerError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failure("GetItem", &e))?;
        Ok(output.item.as_ref().and_then(entry))
    }
}

impl Store for DynamoStore {
    fn claim<'a>(
        &'a self,
        claim: &'a Entry,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<Entry>, LedgerError>> {
        Box::pin(async move {
            // Two attempts: a holder that expires (or is released) between the refused write
            // and reading it is gone, and the second write wins.
            for _ in 0..2 {
                let result = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item(claim)))
                    .condition_expression("attribute_not_exists(#pk) OR #expires <= :now")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#expires", TTL_ATTRIBUTE)
                    .expression_attribute_values(
                        ":now",
                        AttributeValue::N(now.as_second().to_string()),
                    )
                    // The refusal carries the holder: no second call to read it.
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .send()
                    .await;
                match result {
                    Ok(_) => return Ok(None),
                    Err(err) => match err.as_service_error() {
                        Some(PutItemError::ConditionalCheckFailedException(refused)) => {
                            let holder = match refused.item().and_then(entry) {
                                Some(holder) => Some(holder),
                                None => self.read(&claim.key).await?,
                            };
                            if let Some(holder) = holder.filter(|e| e.live(now)) {
                                // The SDK retried a write that had landed: the holder is us.
                                if holder.claimed_by == claim.claimed_by
                                    && holder.claim_id == claim.claim_id
                                {
                                    return Ok(None);
                                }
                                return Ok(Some(holder));
                            }
                        }
                        _ => return Err(failure("PutItem", &err)),
                    },
                }
            }
            Err(LedgerError::Store {
                operation: "PutItem",
                message: format!("{} kept changing while it was claimed", claim.key),
            })
        })
    }

    fn renew<'a>(&'a self, entry: &'a Entry) -> BoxFuture<'a, Result<(), LedgerError>> {
        Box::pin(async move {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item(entry)))
                .condition_expression("#by = :by")
                .expression_attribute_names("#by", "claimed_by")
                .expression_attribute_values(":by", AttributeValue::S(entry.claimed_by.clone()))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                // Not held any more: the entry stays as its new holder wrote it.
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    Ok(())
                }
                Err(err) => Err(failure("PutItem", &err)),
            }
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a Key,
        claimed_by: &'a str,
        claim_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), LedgerError>> {
        Box::pin(async move {
            let request = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(key)))
                .expression_attribute_names("#by", "claimed_by")
                .expression_attribute_values(":by", AttributeValue::S(claimed_by.to_owned()));
            let request = match claim_id {
                None => request.condition_expression("#by = :by"),
                Some(id) => request
                    .condition_expression("#by = :by AND #claim = :claim")
                    .expression_attribute_names("#claim", CLAIM_ID)
                    .expression_attribute_values(":claim", AttributeValue::S(id.to_owned())),
            };
            let result = request.send().await;
            match result {
                Ok(_) => Ok(()),
                // Someone else holds it now (ours expired): leave theirs alone.
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    Ok(())
                }
                Err(err) => Err(failure("DeleteItem", &err)),
            }
        })
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [Key],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Entry>, LedgerError>> {
        Box::pin(async move {
            // BatchGetItem refuses a key twice.
            let mut wanted: Vec<HashMap<String, AttributeValue>> = Vec::new();
            for key in keys {
                let key = Self::key(key);
                if !wanted.contains(&key) {
                    wanted.push(key);
                }
            }
            let mut entries = Vec::new();
            // Keys DynamoDB leaves unprocessed (throttling) are asked again, a few times.
            for _ in 0..BATCH_ATTEMPTS {
                if wanted.is_empty() {
                    break;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut wanted)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| LedgerError::Store {
                        operation: "BatchGetItem",
                        message: e.to_string(),
                    })?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| failure("BatchGetItem", &e))?;
                let items = output.responses.and_then(|mut r| r.remove(&self.table));
                entries.extend(items.unwrap_or_default().iter().filter_map(entry));
                wanted = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !wanted.is_empty() {
                return Err(LedgerError::Store {
                    operation: "BatchGetItem",
                    message: format!(
                        "{} keys were still unprocessed after {BATCH_ATTEMPTS} attempts",
                        wanted.len()
                    ),
                });
            }
            Ok(entries.into_iter().filter(|e| e.live(now)).collect())
        })
    }

    fn query<'a>(&'a self, pk: &'a str) -> BoxFuture<'a, Result<Vec<Entry>, LedgerError>> {
        Box::pin(async move {
            let mut pages = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .consistent_read(true)
                .into_paginator()
                .items()
                .send();
            let mut entries = Vec::new();
            while let Some(item) = pages.next().await {
                let item = item.map_err(|e| failure("Query", &e))?;
                entries.extend(entry(&item));
            }
            Ok(entries)
        })
    }

    fn scan(&self) -> BoxFuture<'_, Result<Vec<Entry>, LedgerError>> {
        Box::pin(async move {
            let mut pages = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .into_paginator()
                .items()
                .send();
            let mut entries = Vec::new();
            while let Some(item) = pages.next().await {
                let item = item.map_err(|e| failure("Scan", &e))?;
                entries.extend(entry(&item));
            }
            Ok(entries)
        })
    }

    fn put<'a>(&'a self, entry: &'a Entry) -> BoxFuture<'a, Result<(), LedgerError>> {
        Box::pin(async move {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item(entry)))
                .send()
                .await
                .map_err(|e| failure("PutItem", &e))?;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<(), LedgerError>> {
        Box::pin(async move {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(key)))
                .send()
                .await
                .map_err(|e| failure("DeleteItem", &e))?;
            Ok(())
        })
    }

    fn describe(&self) -> String {
        format!("DynamoDB table {}", self.table)
    }

    fn in_process(&self) -> bool {
        false
    }
}

fn item(entry: &Entry) -> HashMap<String, AttributeValue> {
    let mut item = DynamoStore::key(&entry.key);
    item.insert(
        "claimed_at".into(),
        AttributeValue::N(entry.claimed_at.to_string()),
    );
    item.insert(
        "claimed_by".into(),
        AttributeValue::S(entry.claimed_by.clone()),
    );
    item.insert(CLAIM_ID.into(), AttributeValue::S(entry.claim_id.clone()));
    item.insert(
        TTL_ATTRIBUTE.into(),
        AttributeValue::N(entry.expires_at.to_string()),
    );
    item.insert("note".into(), AttributeValue::S(entry.note.clone()));
    if entry.pending {
        item.insert(PENDING.into(), AttributeValue::Bool(true));
    }
    item
}

/// An item back into an entry; items that are not ledger entries are ignored.
fn entry(item: &HashMap<String, AttributeValue>) -> Option<Entry> {
    let text = |name: &str| item.get(name)?.as_s().ok().cloned();
    let number = |name: &str| item.get(name)?.as_n().ok()?.parse::<i64>().ok();
    Some(Entry {
        key: Key {
            pk: text(PK)?,
            sk: text(SK)?,
        },
        claimed_at: number("claimed_at")?,
        claimed_by: text("claimed_by")?,
        // Items written before claim ids: the request was the claim.
        claim_id: text(CLAIM_ID).or_else(|| text("claimed_by"))?,
        expires_at: number(TTL_ATTRIBUTE)?,
        note: text("note").unwrap_or_default(),
        // Items written before claims could be pending, and kept claims, have no such flag.
        pending: item.get(PENDING).and_then(|v| v.as_bool().ok()) == Some(&true),
    })
}

fn failure<E>(operation: &'static str, err: &E) -> LedgerError
where
    E: ProvideErrorMetadata + std::error::Error,
{
    LedgerError::Store {
        operation,
        message: crate::aws::describe(err),
    }
}
