#!/usr/bin/env python3
"""Helpers of scripts/deploy-check.sh (needs PyYAML; the deploy-check venv has it).

  invariants LABEL FILE        cross-object checks no schema validator makes (see check_stream)
  extract-configs DIR LABEL FILE
                               writes every ConfigMap's config.yaml to DIR/LABEL--NAME.yaml and
                               prints the paths
  to-1.20 IN OUT               rewrites a rendered stream for the Kubernetes 1.20 API server:
                               autoscaling/v2 -> v2beta2, policy/v1 -> v1beta1, drops
                               Service.spec.internalTrafficPolicy (1.21+); prints each change
  e2e-wait URL SECONDS         polls the intake's JSON API until the sample app's /health trace
                               with the seed's "HealthCheck Local" span arrives; asserts its fields
"""
import json
import re
import sys
import time
import urllib.parse
import urllib.request

import yaml

ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
# The exporter drains its queue within 20 s of SIGTERM (docs/deploy.md); the kubelet must wait longer.
FLUSH_DEADLINE_S = 20


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


class Checker:
    def __init__(self, label):
        self.label = label
        self.errors = []
        self.checks = 0

    def check(self, ok, msg):
        self.checks += 1
        if not ok:
            self.errors.append(msg)


def pod_templates(docs):
    for d in docs:
        if d["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
            yield d, d["spec"]["template"]


def endpoint_port(endpoint):
    m = re.search(r":(\d+)$", str(endpoint))
    return int(m.group(1)) if m else None


def check_stream(label, docs):
    c = Checker(label)
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    configmaps = by_kind.get("ConfigMap", {})
    services = by_kind.get("Service", {})
    workloads = list(pod_templates(docs))
    c.check(workloads, "no Deployment or DaemonSet in the stream")

    # Collector configs: the API key only ever comes from the environment.
    configs = {}
    for name, cm in configmaps.items():
        text = (cm.get("data") or {}).get("config.yaml")
        if text is None:
            continue
        cfg = yaml.safe_load(text)
        configs[name] = (text, cfg)
        for ename, exp in (cfg.get("exporters") or {}).items():
            if ename.split("/")[0] == "datadog":
                key = ((exp or {}).get("api") or {}).get("key")
                c.check(key == "${env:DD_API_KEY}",
                        f"ConfigMap {name}: exporters.{ename}.api.key must be ${{env:DD_API_KEY}}, not {key!r}")

    for wl, tmpl in workloads:
        wname = f"{wl['kind']} {wl['metadata']['name']}"
        spec = tmpl["spec"]
        labels = tmpl["metadata"].get("labels", {})
        sel = wl["spec"]["selector"].get("matchLabels", {})
        c.check(sel and all(labels.get(k) == v for k, v in sel.items()),
                f"{wname}: selector {sel} does not match the template labels {labels}")
        psc = spec.get("securityContext") or {}
        c.check(psc.get("runAsNonRoot") is True, f"{wname}: pod securityContext.runAsNonRoot")
        c.check((psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
                f"{wname}: pod seccompProfile RuntimeDefault")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for v in volumes.values():
            if "configMap" in v:
                ref = v["configMap"]["name"]
                c.check(ref in configmaps, f"{wname}: volume {v['name']} references missing ConfigMap {ref}")
                for item in v["configMap"].get("items", []):
                    c.check(item["key"] in (configmaps.get(ref, {}).get("data") or {}),
                            f"{wname}: ConfigMap {ref} has no key {item['key']}")
        for ctr in spec["containers"]:
            cname = f"{wname} container {ctr['name']}"
            sc = ctr.get("securityContext") or {}
            c.check(sc.get("allowPrivilegeEscalation") is False, f"{cname}: allowPrivilegeEscalation false")
            c.check(sc.get("readOnlyRootFilesystem") is True, f"{cname}: readOnlyRootFilesystem true")
            c.check("ALL" in ((sc.get("capabilities") or {}).get("drop") or []), f"{cname}: drop ALL capabilities")
            res = ctr.get("resources") or {}
            c.check((res.get("limits") or {}).get("memory") and (res.get("requests") or {}).get("cpu"),
                    f"{cname}: resources need limits.memory and requests.cpu")
            ports = {p["name"]: p["containerPort"] for p in ctr.get("ports", [])}
            env = {e["name"]: e for e in ctr.get("env", [])}
            if "kakehashi" not in ctr["image"]:
                continue
            # The collector: its config file comes from a ConfigMap volume.
            c.check(int(spec.get("terminationGracePeriodSeconds", 30)) > FLUSH_DEADLINE_S + 10,
                    f"{wname}: terminationGracePeriodSeconds must exceed the {FLUSH_DEADLINE_S} s flush deadline")
            cfg_args = [a.split("=", 1)[1] for a in ctr.get("args", []) if a.startswith("--config=")]
            c.check(len(cfg_args) == 1, f"{cname}: expected one --config=PATH argument, got {ctr.get('args')}")
            cfg = None
            for m in ctr.get("volumeMounts", []):
                vol = volumes.get(m["name"], {})
                if "configMap" not in vol:
                    continue
                c.check(m.get("readOnly") is True, f"{cname}: config mount should be readOnly")
                for item in vol["configMap"].get("items", []):
                    if cfg_args and m["mountPath"].rstrip("/") + "/" + item["path"] == cfg_args[0]:
                        cfg = configs.get(vol["configMap"]["name"])
            c.check(cfg is not None, f"{cname}: --config {cfg_args} is not a file of a mounted ConfigMap")
            if cfg is None:
                continue
            text, conf = cfg
            for var in set(ENV_REF.findall(text)):
                c.check(var in env, f"{cname}: the config reads ${{env:{var}}} but the container does not set {var}")
            if "DD_API_KEY" in env:
                c.check("secretKeyRef" in (env["DD_API_KEY"].get("valueFrom") or {}),
                        f"{cname}: DD_API_KEY must come from a Secret (valueFrom.secretKeyRef)")
            check_api_access(c, wname, spec, conf, by_kind)
            health = ((conf.get("extensions") or {}).get("health_check") or {}).get("endpoint", "localhost:13133")
            c.check(not str(health).startswith(("localhost", "127.")),
                    f"{cname}: health_check endpoint {health} is unreachable for the kubelet")
            c.check("health_check" in ((conf.get("service") or {}).get("extensions") or []),
                    f"{cname}: health_check is not in service.extensions")
            c.check(ports.get("health") == endpoint_port(health),
                    f"{cname}: port 'health' {ports.get('health')} != health_check endpoint {health}")
            for probe in ("readinessProbe", "livenessProbe"):
                get = (ctr.get(probe) or {}).get("httpGet") or {}
                c.check(get.get("port") in ("health", ports.get("health")),
                        f"{cname}: {probe} must be httpGet on the health_check port")
            protos = (((conf.get("receivers") or {}).get("otlp") or {}).get("protocols") or {})
            for proto, pname in (("grpc", "otlp-grpc"), ("http", "otlp-http")):
                if pname in ports:
                    ep = (protos.get(proto) or {}).get("endpoint")
                    c.check(ep is not None and endpoint_port(ep) == ports[pname],
                            f"{cname}: port {pname} {ports[pname]} but otlp {proto} endpoint is {ep}")

    # Services select Pods of this stream and target their named ports.
    for sname, svc in services.items():
        sel = svc["spec"].get("selector") or {}
        matched = [(wl, t) for wl, t in workloads
                   if sel and all(t["metadata"].get("labels", {}).get(k) == v for k, v in sel.items())]
        c.check(matched, f"Service {sname}: selector {sel} matches no Pod template")
        for p in svc["spec"]["ports"]:
            tp = p.get("targetPort", p["port"])
            for wl, t in matched:
                names = {q.get("name") for ctr in t["spec"]["containers"] for q in ctr.get("ports", [])}
                nums = {q["containerPort"] for ctr in t["spec"]["containers"] for q in ctr.get("ports", [])}
                c.check(tp in names or tp in nums,
                        f"Service {sname}: targetPort {tp} is not a port of {wl['metadata']['name']}")

    for kind in ("PodDisruptionBudget",):
        for name, pdb in by_kind.get(kind, {}).items():
            sel = pdb["spec"]["selector"].get("matchLabels", {})
            c.check(any(all(t["metadata"].get("labels", {}).get(k) == v for k, v in sel.items())
                        for _, t in workloads), f"{kind} {name}: selector matches no Pod template")
    for name, hpa in by_kind.get("HorizontalPodAutoscaler", {}).items():
        ref = hpa["spec"]["scaleTargetRef"]
        target = by_kind.get(ref["kind"], {}).get(ref["name"])
        c.check(target is not None, f"HPA {name}: target {ref['kind']} {ref['name']} is not in the stream")
        if target is not None:
            c.check("replicas" not in target["spec"],
                    f"HPA {name}: {ref['kind']} {ref['name']} sets spec.replicas, which every apply resets")

    # Apps point OTEL_EXPORTER_OTLP_ENDPOINT at a Service of this stream that serves that port.
    for wl, t in workloads:
        for ctr in t["spec"]["containers"]:
            for e in ctr.get("env", []):
                if e["name"] != "OTEL_EXPORTER_OTLP_ENDPOINT":
                    continue
                u = urllib.parse.urlsplit(e["value"])
                host = (u.hostname or "").split(".")[0]
                c.check(host in services and any(p["port"] == u.port for p in services[host]["spec"]["ports"]),
                        f"{wl['metadata']['name']}: OTEL_EXPORTER_OTLP_ENDPOINT {e['value']} is no Service port here")
    return c


def reads_the_api(conf):
    """Whether a pipeline of this collector config runs k8sattributes outside passthrough mode."""
    processors = conf.get("processors") or {}
    used = {p for pl in ((conf.get("service") or {}).get("pipelines") or {}).values()
            for p in (pl or {}).get("processors") or []}
    return any(p.split("/")[0] in ("k8sattributes", "k8s_attributes")
               and not (processors.get(p) or {}).get("passthrough", False) for p in used)


def check_api_access(c, wname, spec, conf, by_kind):
    """A collector gets an API token exactly when its config reads the API, and then its
    ServiceAccount is bound to a role that may get, list and watch pods and namespaces."""
    needs = reads_the_api(conf)
    c.check(spec.get("automountServiceAccountToken") is needs,
            f"{wname}: automountServiceAccountToken should be {str(needs).lower()} "
            f"({'k8sattributes reads the API' if needs else 'no API access needed'})")
    if not needs:
        return
    sa = spec.get("serviceAccountName")
    c.check(sa in by_kind.get("ServiceAccount", {}), f"{wname}: serviceAccountName {sa!r} is no ServiceAccount here")
    granted = set()
    for binding in list(by_kind.get("ClusterRoleBinding", {}).values()):
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa for s in binding.get("subjects") or []):
            continue
        role = by_kind.get("ClusterRole", {}).get(binding["roleRef"]["name"]) or {}
        for rule in role.get("rules") or []:
            if "" in rule.get("apiGroups", []):
                granted |= {(r, v) for r in rule.get("resources", []) for v in rule.get("verbs", [])}
    for resource in ("pods", "namespaces"):
        for verb in ("get", "list", "watch"):
            c.check((resource, verb) in granted,
                    f"{wname}: ServiceAccount {sa} may not {verb} {resource} (k8sattributes needs it)")


def cmd_invariants(label, path):
    c = check_stream(label, load(path))
    for e in c.errors:
        print(f"FAIL {label}: {e}")
    print(f"invariants {label}: {c.checks - len(c.errors)}/{c.checks} ok")
    return 1 if c.errors else 0


def cmd_extract(outdir, label, path):
    n = 0
    for d in load(path):
        if d["kind"] == "ConfigMap" and "config.yaml" in (d.get("data") or {}):
            out = f"{outdir}/{label}--{d['metadata']['name']}.yaml"
            with open(out, "w", encoding="utf-8") as f:
                f.write(d["data"]["config.yaml"])
            print(out)
            n += 1
    if n == 0:
        print(f"no ConfigMap with config.yaml in {path}", file=sys.stderr)
        return 1
    return 0


def cmd_to_120(src, dst):
    docs = load(src)
    for d in docs:
        what = f"{d['kind']} {d['metadata']['name']}"
        if d["kind"] == "HorizontalPodAutoscaler" and d["apiVersion"] == "autoscaling/v2":
            d["apiVersion"] = "autoscaling/v2beta2"
            print(f"  1.20: {what}: autoscaling/v2 -> autoscaling/v2beta2")
        if d["kind"] == "PodDisruptionBudget" and d["apiVersion"] == "policy/v1":
            d["apiVersion"] = "policy/v1beta1"
            print(f"  1.20: {what}: policy/v1 -> policy/v1beta1")
        if d["kind"] == "Service" and "internalTrafficPolicy" in d["spec"]:
            del d["spec"]["internalTrafficPolicy"]
            print(f"  1.20: {what}: dropped spec.internalTrafficPolicy (1.21+)")
    with open(dst, "w", encoding="utf-8") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)
    return 0


def get_json(base, path):
    with urllib.request.urlopen(base + path, timeout=5) as r:
        return json.load(r)


def cmd_e2e_wait(base, seconds):
    deadline = time.monotonic() + float(seconds)
    trace, last = None, None
    while time.monotonic() < deadline and trace is None:
        try:
            listing = get_json(base, "/api/traces?service=sample-app&limit=50")
            for t in listing.get("traces", []):
                detail = get_json(base, f"/api/traces/{t['trace_id']}")
                if any(s.get("resource") == "HealthCheck Local" for s in detail.get("spans", [])):
                    trace = detail
                    break
            last = listing
        except OSError as e:
            last = repr(e)
        if trace is None:
            time.sleep(2)
    if trace is None:
        print(f"FAIL: no sample-app trace with a HealthCheck Local span within {seconds} s; last answer: {last}")
        try:
            print("intake summary:", json.dumps(get_json(base, "/api/summary")))
        except OSError:
            pass
        return 1
    spans = trace["spans"]
    check = next(s for s in spans if s.get("resource") == "HealthCheck Local")
    server = next((s for s in spans if s.get("resource") == "GET /health"), None)
    errors = []

    def expect(what, got, want):
        if got != want:
            errors.append(f"{what}: got {got!r}, want {want!r}")

    meta, metrics = check.get("meta", {}), check.get("metrics", {})
    for k, v in [("custom.tag", "🚀 This is a test trace! 🚀"),
                 ("custom.debugTag", "🐛 This is a debug trace! 🐛"),
                 ("endpoint", "/health"),
                 ("environment", "local"),
                 ("debug_mode", "true")]:
        expect(f"HealthCheck Local meta[{k}]", meta.get(k), v)
    expect("HealthCheck Local metrics[random_number]", metrics.get("random_number"), 42.0)
    # The seed's span attribute service.name=vote-app wins for this span (as in Datadog);
    # env comes from the collector's resource processor (the shipped ConfigMap's pipeline).
    expect("HealthCheck Local service", check.get("service"), "vote-app")
    expect("HealthCheck Local env", check.get("env") or meta.get("env"), "staging")
    if server is None:
        errors.append("no GET /health server span in the trace")
    else:
        expect("server span service", server.get("service"), "sample-app")
        expect("HealthCheck Local parent", check.get("parent_id"), server.get("span_id"))
    if errors:
        print("FAIL: the trace arrived but differs from the seed:")
        for e in errors:
            print("  " + e)
        print(json.dumps(trace, ensure_ascii=False, indent=1)[:6000])
        return 1
    print(f"e2e: trace {trace.get('trace_id', '?')} with {len(spans)} spans; HealthCheck Local "
          f"service={check.get('service')} custom.tag={meta.get('custom.tag')} random_number={metrics.get('random_number')}")
    return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "invariants" and len(argv) == 4:
        return cmd_invariants(argv[2], argv[3])
    if len(argv) >= 2 and argv[1] == "extract-configs" and len(argv) == 5:
        return cmd_extract(argv[2], argv[3], argv[4])
    if len(argv) >= 2 and argv[1] == "to-1.20" and len(argv) == 4:
        return cmd_to_120(argv[2], argv[3])
    if len(argv) >= 2 and argv[1] == "e2e-wait" and len(argv) == 4:
        return cmd_e2e_wait(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
