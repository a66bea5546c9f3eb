//! Table definitions, for the local stack and the tests. `template.yaml` declares the same
//! tables for AWS; a test in `tests/` checks that the two agree.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};

use crate::DynamoError;
use crate::items::{BY_ENTITY_INDEX, BY_PARENT_INDEX};
use crate::sync_state::{PENDING_ATTRIBUTE, PENDING_INDEX, PROBLEM_ATTRIBUTE, PROBLEM_INDEX};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub entities: String,
    pub meta: String,
}

impl TableNames {
    pub fn from_env() -> Result<Self, DynamoError> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| DynamoError::Config(format!("{name} is not set")))
        };
        Ok(TableNames {
            entities: var("ENTITIES_TABLE")?,
            meta: var("META_TABLE")?,
        })
    }

    /// The names the local stack and the template's defaults use, after a prefix.
    pub fn with_prefix(prefix: &str) -> Self {
        TableNames {
            entities: format!("{prefix}entities"),
            meta: format!("{prefix}meta"),
        }
    }
}

fn attribute(name: &str, kind: ScalarAttributeType) -> Result<AttributeDefinition, DynamoError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .map_err(DynamoError::sdk)
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, DynamoError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(DynamoError::sdk)
}

fn index(name: &str, hash: &str, range: &str) -> Result<GlobalSecondaryIndex, DynamoError> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash)?)
        .key_schema(key(range, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(DynamoError::sdk)
}

/// Creates both tables if they do not exist yet.
pub async fn create_tables(client: &Client, names: &TableNames) -> Result<(), DynamoError> {
    let entities = client
        .create_table()
        .table_name(&names.entities)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S)?)
        .attribute_definitions(attribute("entity", ScalarAttributeType::S)?)
        .attribute_definitions(attribute("parent", ScalarAttributeType::S)?)
        .attribute_definitions(attribute("id", ScalarAttributeType::N)?)
        .key_schema(key("pk", KeyType::Hash)?)
        .global_secondary_indexes(index(BY_ENTITY_INDEX, "entity", "id")?)
        .global_secondary_indexes(index(BY_PARENT_INDEX, "parent", "id")?)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .map_err(DynamoError::sdk)?,
        )
        .send()
        .await;
    ignore_existing(entities)?;
    let meta = client
        .create_table()
        .table_name(&names.meta)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S)?)
        .attribute_definitions(attribute(PENDING_ATTRIBUTE, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(PROBLEM_ATTRIBUTE, ScalarAttributeType::S)?)
        .key_schema(key("pk", KeyType::Hash)?)
        .global_secondary_indexes(index(PENDING_INDEX, PENDING_ATTRIBUTE, "pk")?)
        .global_secondary_indexes(index(PROBLEM_INDEX, PROBLEM_ATTRIBUTE, "pk")?)
        .send()
        .await;
    ignore_existing(meta)?;
    Ok(())
}

fn ignore_existing<T, E>(
    result: Result<T, aws_sdk_dynamodb::error::SdkError<E>>,
) -> Result<(), DynamoError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("ResourceInUseException") => {
            Ok(())
        }
        Err(e) => Err(DynamoError::sdk(e)),
    }
}
