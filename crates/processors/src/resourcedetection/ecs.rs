//! The `ecs` detector: the ECS task metadata endpoint an ECS agent gives every container
//! (`ECS_CONTAINER_METADATA_URI_V4`, else the v3 `ECS_CONTAINER_METADATA_URI`), as otelcol's
//! detector reads it: the task (`<uri>/task`) and the collector's own container (`<uri>`).
//! Without the variable the collector is not on ECS and the detector finds nothing.

use super::config::{EcsConfig, ECS_ATTRIBUTES};
use super::detected::{Attributes, Detected};
use super::Sources;
use kakehashi_cloud_metadata::MetadataClient;
use serde::Deserialize;
use std::time::Duration;
use tokio::time::Instant;

/// With no detection deadline (`timeout: 0`), a request still ends after this long.
const REQUEST_CAP: Duration = Duration::from_secs(30);

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Task {
    #[serde(rename = "TaskARN")]
    task_arn: String,
    family: String,
    revision: String,
    cluster: String,
    availability_zone: String,
    launch_type: String,
    containers: Vec<Container>,
}

#[derive(Deserialize, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct Container {
    docker_id: String,
    #[serde(rename = "Type")]
    kind: String,
    known_status: String,
    log_driver: String,
    log_options: LogOptions,
}

#[derive(Deserialize, Default, PartialEq)]
#[serde(default)]
struct LogOptions {
    #[serde(rename = "awslogs-group")]
    group: String,
    #[serde(rename = "awslogs-region")]
    region: String,
    #[serde(rename = "awslogs-stream")]
    stream: String,
}

pub(crate) async fn detect(
    cfg: &EcsConfig,
    fail_on_missing: bool,
    deadline: Option<Instant>,
    src: &Sources,
) -> Result<Attributes, String> {
    let Some(base) = kakehashi_cloud_metadata::ecs::endpoint(&*src.env) else {
        return if fail_on_missing {
            Err("no ECS task metadata endpoint (ECS_CONTAINER_METADATA_URI_V4 or ECS_CONTAINER_METADATA_URI)".into())
        } else {
            Ok(Attributes::new())
        };
    };
    let client = MetadataClient::new(REQUEST_CAP, REQUEST_CAP, deadline)?;
    let json = [("Content-Type", "application/json")];
    let task: Task = client
        .get(&format!("{base}/task"), &json)
        .await
        .map_err(|e| e.to_string())
        .and_then(|body| serde_json::from_str(&body).map_err(|e| e.to_string()))
        .map_err(|e| format!("unable to fetch task metadata: {e}"))?;

    let mut out = Detected::new(&cfg.resource_attributes, ECS_ATTRIBUTES);
    out.str("cloud.provider", "aws");
    out.str("cloud.platform", "aws_ecs");
    out.str("aws.ecs.task.arn", task.task_arn.clone());
    out.str("aws.ecs.task.family", task.family.clone());
    out.str("aws.ecs.task.revision", task.revision.clone());
    let (region, account, task_id) = parse_task_arn(&task.task_arn);
    if !account.is_empty() {
        out.str("cloud.account.id", account.clone());
    }
    if !region.is_empty() {
        out.str("cloud.region", region.clone());
    }
    if !task_id.is_empty() {
        out.str("aws.ecs.task.id", task_id);
    }
    let cluster_arn = if task.cluster.contains(':') {
        task.cluster.clone()
    } else {
        format!("arn:aws:ecs:{region}:{account}:cluster/{}", task.cluster)
    };
    out.str("aws.ecs.cluster.arn", cluster_arn);
    if !task.availability_zone.is_empty() {
        out.str("cloud.availability_zone", task.availability_zone.clone());
    }
    let launch_type = task.launch_type.to_lowercase();
    if launch_type == "ec2" || launch_type == "fargate" {
        out.str("aws.ecs.launchtype", launch_type);
    }

    // The collector's own container, to leave its logs out.
    let own: Container = match client.get(&base, &json).await {
        Ok(body) => serde_json::from_str(&body).map_err(|e| {
            format!("encountered unexpected error reading response from ECS Container Metadata Endpoint: {e}")
        })?,
        Err(e) => return Err(format!("unable to fetch container metadata: {e}")),
    };
    add_log_data(&mut out, &task.containers, &own, &account);
    Ok(out.into_attributes())
}

/// Region, account and task id from `arn:aws:ecs:<region>:<account>:task/[<cluster>/]<id>`.
fn parse_task_arn(arn: &str) -> (String, String, String) {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 6 {
        return Default::default();
    }
    let id = parts[5].rsplit('/').next().unwrap_or_default();
    (parts[3].to_string(), parts[4].to_string(), id.to_string())
}

/// The `awslogs` log groups and streams of the task's other running containers.
fn add_log_data(out: &mut Detected, containers: &[Container], own: &Container, account: &str) {
    let (mut groups, mut group_arns, mut streams, mut stream_arns) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for c in containers {
        let logs = &c.log_options;
        if c.kind != "NORMAL"
            || c.known_status != "RUNNING"
            || c.log_driver != "awslogs"
            || c.docker_id == own.docker_id
            || *logs == LogOptions::default()
        {
            continue;
        }
        let group_arn = format!(
            "arn:aws:logs:{}:{account}:log-group:{}",
            logs.region, logs.group
        );
        stream_arns.push(format!("{group_arn}:log-stream:{}", logs.stream));
        groups.push(logs.group.clone());
        group_arns.push(group_arn);
        streams.push(logs.stream.clone());
    }
    if !groups.is_empty() {
        out.strings("aws.log.group.names", groups);
        out.strings("aws.log.group.arns", group_arns);
        out.strings("aws.log.stream.names", streams);
        out.strings("aws.log.stream.arns", stream_arns);
    }
}

#[cfg(test)]
mod tests {
    use super::parse_task_arn;

    #[test]
    fn task_arns_of_both_formats_and_short_ones() {
        let s = |t: (String, String, String)| (t.0, t.1, t.2);
        assert_eq!(
            s(parse_task_arn(
                "arn:aws:ecs:us-west-2:123456789123:task/123"
            )),
            ("us-west-2".into(), "123456789123".into(), "123".into())
        );
        assert_eq!(
            parse_task_arn("arn:aws:ecs:us-west-2:803860917211:task/test200/d22aaa11").2,
            "d22aaa11"
        );
        // Go indexes the sixth part of a five-part ARN and panics; nothing is found here.
        assert_eq!(
            parse_task_arn("arn:aws:ecs:us-west-2:1"),
            Default::default()
        );
        assert_eq!(parse_task_arn(""), Default::default());
    }
}
