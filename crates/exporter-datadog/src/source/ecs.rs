//! `ecs`: on ECS Fargate, the task (its ARN); on the EC2 launch type nothing, so that `ec2`
//! names the instance. Only where the ECS agent announced its task metadata endpoint.

use super::{Found, Source, Sources};
use kakehashi_cloud_metadata::{ecs, MetadataClient};
use serde::Deserialize;
use std::time::Duration;
use tokio::time::Instant;

/// Go's request has no bound of its own; this one ends by the deadline or after this long.
const REQUEST_CAP: Duration = Duration::from_secs(30);

#[derive(Deserialize, Default)]
#[serde(default)]
struct Task {
    #[serde(rename = "TaskARN")]
    task_arn: String,
    #[serde(rename = "LaunchType")]
    launch_type: String,
}

pub(super) async fn source(src: &Sources, deadline: Option<Instant>) -> Found {
    let Some(base) = ecs::endpoint(&*src.env) else {
        return Err("not running on ECS Fargate".into());
    };
    let client = MetadataClient::new(REQUEST_CAP, REQUEST_CAP, deadline)?;
    let body = client
        .get(
            &format!("{base}/task"),
            &[("Content-Type", "application/json")],
        )
        .await
        .map_err(|e| e.to_string())?;
    let task: Task = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    match task.launch_type.to_ascii_lowercase().as_str() {
        "fargate" => Ok(Source::FargateTask(task.task_arn)),
        "ec2" => Err("not running on ECS Fargate".into()),
        _ => Err("TMDE endpoint is queryable, but launch type is unavailable".into()),
    }
}
